"""Competitive-programming sets: APPS and CodeContests, in their published schemas.

APPS (`codeparrot/apps`): `problem_id`, `question`, `starter_code`, `input_output` (JSON text:
`inputs`, `outputs`, optional `fn_name`). Without `fn_name` a problem is stdin/stdout; with it,
a call-based problem (LeetCode style, often a `class Solution` method) whose inputs are argument
lists: it becomes a function problem whose tests call the function and compare results.
APPS does not separate public examples from hidden tests: a stdin/stdout problem's visible
tests are the examples its statement shows, parsed from the `question` text
(`train.loaders.statement_examples`); one whose examples cannot be read for certain has none,
and `apps_problems` logs how many. Labels still come from `input_output` alone. Call-based
problems get no visible tests (their LeetCode-style examples are not parsed).

CodeContests (`deepmind/code_contests`): `name`, `description`, `public_tests`,
`private_tests`, `generated_tests` (each `{"input": [...], "output": [...]}`). All three are
the tests (the benchmark's own convention); the public ones are also the visible tests.
Stdout is compared token by token (whitespace-normalised), as both benchmarks' judges do for
the great majority of problems.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from train.jsonl import DataError
from train.loaders.statement_examples import statement_examples
from train.problems import IOTest, Problem

logger = logging.getLogger(__name__)

APPS_HUB_ID = "codeparrot/apps"
APPS_HUB_FILES = ["test.jsonl"]
CODECONTESTS_HUB_ID = "deepmind/code_contests"
CODECONTESTS_HUB_FILES = ["data/test-*.parquet"]


def _text(value: Any) -> str:
    if isinstance(value, list):  # some APPS cases store lines
        return "\n".join(str(v) for v in value) + "\n"
    return str(value)


def _io_tests(inputs: Any, outputs: Any, where: str) -> tuple[IOTest, ...]:
    if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
        raise DataError(f"{where}: inputs and outputs must be lists of the same length")
    return tuple(IOTest(_text(i), _text(o)) for i, o in zip(inputs, outputs, strict=True))


def _call_tests(fn_name: str, starter_code: str, inputs: list[Any], outputs: list[Any]) -> str:
    target = f"Solution().{fn_name}" if "class Solution" in starter_code else fn_name
    lines = [
        "import json as _tp_json",
        f"_tp_cases = _tp_json.loads({json.dumps([inputs, outputs])!r})",
    ]
    lines.append("for _tp_args, _tp_expected in zip(*_tp_cases):")
    lines.append(f"    _tp_out = {target}(*_tp_args)")
    lines.append("    if isinstance(_tp_out, tuple):")
    lines.append("        _tp_out = list(_tp_out)")
    lines.append("    assert _tp_out == _tp_expected or [_tp_out] == _tp_expected")
    return "\n".join(lines) + "\n"


def _first_solution(record: Mapping[str, Any]) -> str | None:
    """A reference solution where the record has a Python one (APPS: all are Python;
    CodeContests: language 3 is Python 3)."""
    solutions = record.get("solutions")
    if isinstance(solutions, str):
        try:
            solutions = json.loads(solutions)
        except ValueError:
            return None
    if isinstance(solutions, list):
        return str(solutions[0]) if solutions else None
    if isinstance(solutions, Mapping):
        pairs = zip(solutions.get("language", []), solutions.get("solution", []), strict=False)
        return next((str(code) for lang, code in pairs if lang == 3), None)
    return None


def apps_problem(record: Mapping[str, Any]) -> Problem:
    where = f"apps problem {record.get('problem_id')}"
    try:
        number = int(record["problem_id"])
        question = str(record["question"])
        spec = record.get("input_output") or "{}"
        spec = json.loads(spec) if isinstance(spec, str) else spec
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{where}: not an APPS record ({exc})") from None
    starter = str(record.get("starter_code") or "")
    prompt = question.strip() + "\n" + (f"\n{starter.rstrip()}\n" if starter.strip() else "")
    inputs, outputs = spec.get("inputs", []), spec.get("outputs", [])
    fn_name = spec.get("fn_name")
    if fn_name:
        if len(inputs) != len(outputs):
            raise DataError(f"{where}: inputs and outputs differ in length")
        return Problem(
            task_id=f"APPS/{number}",
            prompt=prompt,
            entry_point=str(fn_name),
            tests=_call_tests(str(fn_name), starter, inputs, outputs),
            source="apps",
            extra={
                "difficulty": record.get("difficulty"),
                "starter_code": starter,
                "reference": _first_solution(record),
            },
        )
    examples = statement_examples(question)
    return Problem(
        task_id=f"APPS/{number}",
        prompt=prompt,
        io_tests=_io_tests(inputs, outputs, where),
        visible_io_tests=examples.tests,
        source="apps",
        extra={
            "difficulty": record.get("difficulty"),
            "reference": _first_solution(record),
            "examples_missing": examples.missing,
        },
    )


def codecontests_problem(record: Mapping[str, Any]) -> Problem:
    name = record.get("name")
    where = f"codecontests problem {name!r}"
    if not isinstance(name, str) or not name:
        raise DataError(f"{where}: missing field 'name'")
    groups = {}
    for field in ("public_tests", "private_tests", "generated_tests"):
        value = record.get(field) or {"input": [], "output": []}
        if not isinstance(value, Mapping):
            raise DataError(f"{where}: field {field!r} must be an object")
        groups[field] = _io_tests(
            value.get("input", []), value.get("output", []), f"{where} {field}"
        )
    tests = groups["public_tests"] + groups["private_tests"] + groups["generated_tests"]
    if not tests:
        raise DataError(f"{where}: no tests")
    return Problem(
        task_id=f"CodeContests/{name}",
        prompt=str(record.get("description", "")),
        io_tests=tests,
        visible_io_tests=groups["public_tests"],
        source="codecontests",
        extra={"difficulty": record.get("difficulty"), "reference": _first_solution(record)},
    )


def apps_problems(records: Iterable[Mapping[str, Any]]) -> dict[str, Problem]:
    problems = [apps_problem(r) for r in records]
    stdio = [p for p in problems if p.mode == "stdio"]
    if stdio:
        missing = Counter(p.extra["examples_missing"] for p in stdio if not p.visible_io_tests)
        logger.info(
            "APPS: statement examples as visible tests for %d of %d stdin/stdout problems%s",
            len(stdio) - sum(missing.values()),
            len(stdio),
            "".join(f"; none for {n} ({reason})" for reason, n in sorted(missing.items())),
        )
    return {p.task_id: p for p in problems}


def codecontests_problems(records: Iterable[Mapping[str, Any]]) -> dict[str, Problem]:
    problems = [codecontests_problem(r) for r in records]
    return {p.task_id: p for p in problems}
