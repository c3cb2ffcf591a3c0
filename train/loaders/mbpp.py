"""MBPP (full and sanitized) in its published schemas.

Full (`mbpp.jsonl`): `task_id` (int), `text`, `code`, `test_list`, `test_setup_code`,
`challenge_test_list`. Sanitized (`sanitized-mbpp.json`): `task_id`, `prompt` (the text),
`code`, `test_imports`, `test_list`. Both become HumanEval-style problems: the prompt is the
reference solution's `def` line of the tested function plus a docstring with the task text, the
form LDB and most code-ranking work use (`MBPP/<n>` task ids). Tests are the official
`test_list` (challenge tests are not used); the first assert is the visible test.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from ranker.source import find_function
from train.jsonl import DataError
from train.problems import Problem

HUB_ID = "google-research-datasets/mbpp"
HUB_FILES = {"mbpp": ["full/test-*", "full/train-*", "full/validation-*", "full/prompt-*"]}
HUB_FILES["mbpp-sanitized"] = [
    "sanitized/test-*",
    "sanitized/train-*",
    "sanitized/validation-*",
    "sanitized/prompt-*",
]


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [str(v) for v in value or []]


def _parse(code: str) -> ast.Module:
    with warnings.catch_warnings():  # old solutions have invalid escapes in regex strings
        warnings.simplefilter("ignore")
        return ast.parse(code)


def tested_function(code: str, first_test: str) -> str | None:
    """The reference function the first assert calls (a helper defined beside it is not)."""
    try:
        defined = {
            node.name
            for node in _parse(code).body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        calls = [
            node.func.id
            for node in ast.walk(_parse(first_test))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        ]
    except SyntaxError:
        return None
    for name in calls:
        if name in defined:
            return name
    return calls[0] if calls else None


def signature_lines(code: str, name: str) -> str | None:
    """The `def name(...):` line(s) of the reference solution, as written."""
    try:
        tree = _parse(code)
    except SyntaxError:
        return None
    lines = code.splitlines()
    node = find_function(tree, name)
    if node is None:
        return None
    if node.body[0].lineno == node.lineno:  # body on the def line: keep the header
        return lines[node.lineno - 1][: node.body[0].col_offset].rstrip()
    header = []
    for line in lines[node.lineno - 1 : node.body[0].lineno - 1]:
        header.append(line)
        if line.split("#", 1)[0].rstrip().endswith(":"):
            break  # comments between the header and the body are not part of it
    return "\n".join(header)


def humaneval_style_prompt(signature: str, text: str) -> str:
    return f'{signature}\n    """\n    {text.strip()}\n    """\n'


def mbpp_problem(record: Mapping[str, Any], source: str, where: str = "") -> Problem:
    prefix = f"{where}: " if where else ""
    try:
        number = int(str(record["task_id"]).rsplit("/", 1)[-1])
        text = str(record.get("text") or record.get("prompt") or "")
        code = str(record["code"]).replace("\r\n", "\n")
        tests = _as_list(record["test_list"])
    except (KeyError, ValueError) as exc:
        raise DataError(f"{prefix}not an MBPP record ({exc})") from None
    if not tests:
        raise DataError(f"{prefix}MBPP task {number} has no tests")
    setup_lines = _as_list(record.get("test_setup_code", "")) + _as_list(
        record.get("test_imports", [])
    )
    entry_point = tested_function(code, tests[0])
    signature = signature_lines(code, entry_point) if entry_point else None
    if entry_point is None or signature is None:
        raise DataError(f"{prefix}MBPP task {number}: cannot find the tested function")
    return Problem(
        task_id=f"MBPP/{number}",
        prompt=humaneval_style_prompt(signature, text),
        entry_point=entry_point,
        tests="\n".join(tests) + "\n",
        visible_tests=(tests[0],),
        setup="\n".join(line.replace("\r\n", "\n") for line in setup_lines),
        source=source,
        extra={"reference": code, "text": text},
    )


def mbpp_problems(records: Iterable[Mapping[str, Any]], source: str = "mbpp") -> dict[str, Problem]:
    problems: dict[str, Problem] = {}
    for i, record in enumerate(records, start=1):
        problem = mbpp_problem(record, source, f"{source} record {i}")
        problems[problem.task_id] = problem
    return problems
