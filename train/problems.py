"""The problem record every loader produces and every later step consumes.

A problem is either a *function* problem (`entry_point` set: the candidate defines that
function, `tests` is Python that runs after the program and raises on failure) or a *stdio*
problem (`entry_point` None: the candidate is a program reading stdin, judged on
`io_tests`). `visible_tests` / `visible_io_tests` are the examples a user or the prompt shows
(HumanEval doctests, MBPP's first assert, CodeContests' public tests, the examples an APPS
stdin/stdout statement shows, parsed from its text): usable for ranking (`train.signals` runs
them), never for final labels.

In-house problems use the same JSONL format (one object per line), which is how a team
trains on its own code:

    {"task_id": "acme/slugify",
     "prompt": "def slugify(text: str) -> str:\\n    \\"\\"\\"Lower-case, words joined by '-'.\\"\\"\\"\\n",
     "entry_point": "slugify",
     "tests": ["assert slugify('A b') == 'a-b'", "assert slugify('') == ''"],
     "visible_tests": ["assert slugify('A b') == 'a-b'"]}

    {"task_id": "acme/sum", "prompt": "Read two integers and print their sum.",
     "tests": [{"input": "1 2\\n", "output": "3\\n"}],
     "visible_tests": [{"input": "1 2\\n", "output": "3\\n"}]}

`proposed_inputs` (optional, function problems) lists calls a model proposed as test inputs
(`["slugify('')", "slugify('A  b')"]`, CodeT-style, as the server's `probeInputs` asks for):
they run after the visible tests for agreement only, never judged.

`tests` may also be one string of test code (e.g. a HumanEval-style `check` function plus its
call). `setup` (optional) is code run after the program and before its tests (imports the tests need,
or data built with the program's own classes, as in MBPP's `test_setup_code`). Benchmarks in
their published schemas are read by `train.loaders.load_problems`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from train.jsonl import DataError, read_jsonl


@dataclass(frozen=True)
class IOTest:
    """One stdin/stdout case: feed `input`, expect `output` (compared whitespace-normalised)."""

    input: str
    output: str


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    entry_point: str | None = None
    tests: str = ""
    io_tests: tuple[IOTest, ...] = ()
    visible_tests: tuple[str, ...] = ()
    visible_io_tests: tuple[IOTest, ...] = ()
    setup: str = ""
    source: str = ""
    proposed_inputs: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def mode(self) -> str:
        return "function" if self.entry_point else "stdio"

    def __post_init__(self) -> None:
        if not self.task_id:
            raise ValueError("a problem needs a task_id")
        if self.entry_point and self.io_tests:
            raise ValueError(f"{self.task_id}: a function problem cannot have stdin/stdout tests")


def problem_from_record(record: Mapping[str, Any], where: str = "") -> Problem:
    """Parse one in-house JSONL object; errors name `where` (e.g. `problems.jsonl:12`) and
    the field."""
    prefix = f"{where}: " if where else ""
    for name in ("task_id", "prompt"):
        if not isinstance(record.get(name), str) or not record[name]:
            raise DataError(f"{prefix}missing or empty field {name!r}")
    entry_point = record.get("entry_point") or None
    if entry_point is not None and not isinstance(entry_point, str):
        raise DataError(f"{prefix}field 'entry_point' must be a string")
    if "tests" not in record:
        raise DataError(f"{prefix}missing field 'tests'")
    tests, io_tests = _parse_tests(record["tests"], f"{prefix}field 'tests'", entry_point)
    visible_value = record.get("visible_tests", [])
    if entry_point and isinstance(visible_value, str):
        visible_value = [visible_value]  # one block of test code
    _, visible_io = _parse_tests(visible_value, f"{prefix}field 'visible_tests'", entry_point)
    setup = record.get("setup", "")
    if not isinstance(setup, str):
        raise DataError(f"{prefix}field 'setup' must be a string")
    proposed = record.get("proposed_inputs", [])
    if not (isinstance(proposed, list) and all(isinstance(call, str) for call in proposed)):
        raise DataError(f"{prefix}field 'proposed_inputs' must be a list of calls (strings)")
    if proposed and not entry_point:
        raise DataError(f"{prefix}field 'proposed_inputs' needs an 'entry_point'")
    return Problem(
        task_id=record["task_id"],
        prompt=record["prompt"],
        entry_point=entry_point,
        tests=tests,
        io_tests=io_tests,
        visible_tests=tuple(visible_value) if entry_point else (),
        visible_io_tests=visible_io,
        setup=setup,
        source=str(record.get("source", "in-house")),
        proposed_inputs=tuple(proposed),
    )


def _parse_tests(value: Any, what: str, entry_point: str | None) -> tuple[str, tuple[IOTest, ...]]:
    if entry_point:
        if isinstance(value, str):
            return value, ()
        if isinstance(value, Sequence) and all(isinstance(t, str) for t in value):
            return "\n".join(value), ()
        raise DataError(f"{what} must be test code or a list of assert statements")
    if isinstance(value, Sequence) and not isinstance(value, str):
        cases = []
        for case in value:
            if not (
                isinstance(case, Mapping)
                and isinstance(case.get("input"), str)
                and isinstance(case.get("output"), str)
            ):
                raise DataError(f"{what} must be a list of {{'input': str, 'output': str}}")
            cases.append(IOTest(case["input"], case["output"]))
        return "", tuple(cases)
    raise DataError(f"{what} of a stdin/stdout problem must be a list of input/output pairs")


def read_problem_file(path: str | Path) -> dict[str, Problem]:
    """All problems of an in-house JSONL file by task_id; duplicate ids are an error."""
    problems: dict[str, Problem] = {}
    for number, record in read_jsonl(path):
        problem = problem_from_record(record, f"{path}:{number}")
        if problem.task_id in problems:
            raise DataError(f"{path}:{number}: duplicate task_id {problem.task_id!r}")
        problems[problem.task_id] = problem
    if not problems:
        raise DataError(f"{path}: no problems")
    return problems
