"""Candidate pools: JSONL, one candidate per line.

    {"task_id": "HumanEval/0", "index": 3, "code": "<whole program>", "passed": true,
     "result": "passed", "model": "...", ...}

`code` is a whole program; `completion` instead is a body continuing the problem's prompt.
`index` is optional (default: the candidate's order within its task in the file); `passed` /
`result` are present once labelled; any other field is generator metadata, kept as is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ranker.candidates import PreparedCandidate, prepare_candidate
from train.jsonl import DataError, read_jsonl
from train.problems import Problem

_KNOWN = {"task_id", "index", "code", "completion", "passed", "result"}


@dataclass(frozen=True)
class PoolCandidate:
    task_id: str
    index: int
    code: str | None = None
    completion: str | None = None
    passed: bool | None = None
    result: str | None = None
    line: int = 0
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def text(self) -> str:
        return self.code if self.code is not None else (self.completion or "")

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"task_id": self.task_id, "index": self.index}
        if self.code is not None:
            record["code"] = self.code
        if self.completion is not None:
            record["completion"] = self.completion
        if self.passed is not None:
            record["passed"] = self.passed
        if self.result is not None:
            record["result"] = self.result
        record.update(self.meta)
        return record


@dataclass
class Pool:
    """Candidates in file order, plus the lines that were skipped and why."""

    candidates: list[PoolCandidate]
    skipped: list[str] = field(default_factory=list)

    def by_task(self) -> dict[str, list[PoolCandidate]]:
        groups: dict[str, list[PoolCandidate]] = defaultdict(list)
        for cand in self.candidates:
            groups[cand.task_id].append(cand)
        return dict(groups)

    @property
    def labelled(self) -> bool:
        return bool(self.candidates) and all(c.passed is not None for c in self.candidates)


def candidate_from_record(
    record: dict[str, Any], where: str, default_index: int, line: int = 0
) -> PoolCandidate:
    task_id = record.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise DataError(f"{where}: missing field 'task_id'")
    code, completion = record.get("code"), record.get("completion")
    if code is None and completion is None:
        raise DataError(f"{where}: needs a 'code' or a 'completion' field")
    for name, value in (("code", code), ("completion", completion)):
        if value is not None and not isinstance(value, str):
            raise DataError(f"{where}: field {name!r} must be a string")
    index = record.get("index", default_index)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise DataError(f"{where}: field 'index' must be a non-negative integer")
    passed = record.get("passed")
    if passed is not None and not isinstance(passed, bool):
        raise DataError(f"{where}: field 'passed' must be true or false")
    result = record.get("result")
    return PoolCandidate(
        task_id=task_id,
        index=index,
        code=code,
        completion=completion,
        passed=passed,
        result=None if result is None else str(result),
        line=line,
        meta={k: v for k, v in record.items() if k not in _KNOWN},
    )


def read_pool(path: str | Path, skip_bad_lines: bool = False) -> Pool:
    """Read a pool. Bad lines raise `DataError` naming the line, or with `skip_bad_lines`
    are recorded in `Pool.skipped` (one message each) and left out."""
    pool = Pool(candidates=[])
    seen: set[tuple[str, int]] = set()
    per_task: dict[str, int] = defaultdict(int)
    for number, record in read_jsonl(path, skipped=pool.skipped if skip_bad_lines else None):
        where = f"{path}:{number}"
        task = record.get("task_id")
        try:
            default_index = per_task[task] if isinstance(task, str) else 0
            cand = candidate_from_record(record, where, default_index, number)
            if (cand.task_id, cand.index) in seen:
                raise DataError(f"{where}: duplicate candidate {cand.task_id!r} #{cand.index}")
        except DataError as exc:
            if not skip_bad_lines:
                raise
            pool.skipped.append(str(exc))
            continue
        seen.add((cand.task_id, cand.index))
        per_task[cand.task_id] += 1
        pool.candidates.append(cand)
    return pool


def candidate_program(candidate: PoolCandidate, problem: Problem) -> PreparedCandidate:
    """The whole program a pool candidate stands for, prepared exactly as the editor prepares
    a sampled answer (bodies joined to the prompt, prompt imports added, parse-checked)."""
    if problem.entry_point:
        return prepare_candidate(
            candidate.text, candidate.index, problem.prompt, problem.entry_point
        )
    return prepare_candidate(candidate.text, candidate.index)


def unknown_tasks(pool: Pool, problems: Iterable[str]) -> list[str]:
    """Task ids in the pool that the problem set does not have, in first-seen order."""
    known = set(problems)
    return list(dict.fromkeys(c.task_id for c in pool.candidates if c.task_id not in known))
