"""Labelling a candidate pool by execution: every candidate becomes a whole program (the same
preparation the editor uses), runs against its problem's tests in the sandbox, and its row is
appended to the output with `passed`, `result`, `outcome` and `program_sha` as soon as it
finishes. A rerun skips the (task_id, index) pairs already in the output; a content-hash cache
makes re-labelling identical programs free (timeouts are not cached: they depend on load; nor
are the sandbox's own errors: they say nothing about the program).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ranker.cache import cache_home
from ranker.candidates import program_sha
from ranker.sandbox import ExecResult, FunctionJob, Job, Limits, Outcome, Sandbox, StdioJob
from train.jsonl import DataError, JsonlAppender, read_jsonl, write_jsonl
from train.pools import PoolCandidate, candidate_program, read_pool, unknown_tasks
from train.problems import Problem

CACHE_VERSION = "sandbox-2"  # bump when a change to the executor can change a verdict


@dataclass
class LabelStats:
    total: int = 0  # candidates in the pool (valid lines)
    already_done: int = 0  # found in the output by a previous run
    executed: int = 0  # programs run in the sandbox
    from_cache: int = 0  # labelled from the cache or from an identical program in this run
    dropped: int = 0  # did not make a program (no code, syntax error): labelled error
    passed: int = 0
    labelled: int = 0  # rows written by this run
    skipped: list[str] = field(
        default_factory=list
    )  # bad lines and unknown tasks, one message each


def job_for(problem: Problem, program: str, timeout: float | None = None) -> Job:
    """The labelling job: the full test suite as one case, stopping at the first failure."""
    if problem.entry_point:
        return FunctionJob(program, [problem.tests], problem.setup, timeout=timeout)
    return StdioJob(program, problem.io_tests, timeout=timeout)


def job_key(job: Job, limits: Limits) -> str:
    """Content hash of everything that decides a verdict."""
    parts: dict[str, Any] = {"version": CACHE_VERSION, "memory": limits.memory}
    parts["timeout"] = job.timeout or limits.timeout
    if isinstance(job, FunctionJob):
        parts.update(program=job.program, tests=list(job.tests), setup=job.setup)
    else:
        parts.update(
            program=job.program,
            tests=[[case.input, case.output] for case in job.tests],
            compare=job.compare,
        )
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class LabelCache:
    """Verdicts by job key, in a JSONL file appended as verdicts arrive."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, tuple[str, str]] = {}
        self._out: JsonlAppender | None = None
        if path is not None and path.is_file():
            skipped: list[str] = []
            for _, record in read_jsonl(path, resuming=True, skipped=skipped):
                if isinstance(record.get("key"), str) and record.get("outcome") in _OUTCOMES:
                    self.entries[record["key"]] = (
                        record["outcome"],
                        str(record.get("message", "")),
                    )

    def get(self, key: str) -> ExecResult | None:
        hit = self.entries.get(key)
        return ExecResult(Outcome(hit[0]), hit[1]) if hit else None

    def put(self, key: str, result: ExecResult) -> None:
        if result.outcome is Outcome.TIMEOUT or result.sandbox_error or key in self.entries:
            return
        self.entries[key] = (result.outcome.value, result.message)
        if self.path is not None:
            if self._out is None:
                self._out = JsonlAppender(self.path)
            self._out.append(
                {"key": key, "outcome": result.outcome.value, "message": result.message}
            )

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


_OUTCOMES = {o.value for o in Outcome}


def default_cache_path() -> Path:
    """The verdict cache under the cache home (`ranker.cache`)."""
    return cache_home() / "label-cache.jsonl"


def finished_candidates(out: Path) -> set[tuple[str, int]]:
    """(task_id, index) of every complete row already in `out`. A final row cut short by an
    interrupted run is dropped from the file, so appending can go on cleanly; so are rows whose
    verdict was an error of the sandbox's own (`sandbox_error`), so that a rerun labels them
    again instead of keeping a verdict that says nothing of the program."""
    if not out.is_file():
        return set()
    read = [record for _, record in read_jsonl(out, resuming=True)]
    rows = [row for row in read if not row.get("sandbox_error")]
    damaged = False
    try:
        for _ in read_jsonl(out):
            pass
    except DataError:  # a damaged tail: keep the complete rows only
        damaged = True
    if damaged or len(rows) < len(read):
        write_jsonl(out, rows)
    return {
        (row["task_id"], row["index"])
        for row in rows
        if isinstance(row.get("task_id"), str) and isinstance(row.get("index"), int)
    }


def labelled_row(candidate: PoolCandidate, result: ExecResult, sha: str | None) -> dict[str, Any]:
    row = candidate.to_record()
    if candidate.passed is not None:  # a pool labelled before: keep its verdict beside ours
        row["previous_passed"] = row.pop("passed")
        row["previous_result"] = row.pop("result", None)
    row.update(
        passed=result.passed,
        result=result.result,
        outcome=result.outcome.value,
        program_sha=sha,
    )
    if result.sandbox_error:
        row["sandbox_error"] = True  # labelled again on the next run (`finished_candidates`)
    return row


def label_pool(
    problems: Mapping[str, Problem],
    pool_path: str | Path,
    out_path: str | Path,
    *,
    workers: int | None = None,
    limits: Limits | None = None,
    cache_path: Path | None = None,
    strict: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> LabelStats:
    """Label every candidate of the pool not yet in `out_path`; rows are appended as their
    verdicts arrive. Bad pool lines and candidates of unknown tasks raise `DataError` with
    `strict`, and otherwise are skipped and counted in `LabelStats.skipped`."""
    limits = limits or Limits()
    out = Path(out_path)
    pool = read_pool(pool_path, skip_bad_lines=not strict)
    stats = LabelStats(total=len(pool.candidates), skipped=list(pool.skipped))
    missing = set(unknown_tasks(pool, problems))
    if missing and strict:
        first = next(c for c in pool.candidates if c.task_id in missing)
        raise DataError(f"{pool_path}:{first.line}: unknown task_id {first.task_id!r}")
    for cand in pool.candidates:
        if cand.task_id in missing:
            stats.skipped.append(f"{pool_path}:{cand.line}: unknown task_id {cand.task_id!r}")
    done = finished_candidates(out)
    todo = [
        c for c in pool.candidates if c.task_id not in missing and (c.task_id, c.index) not in done
    ]
    stats.already_done = (
        stats.total - len(todo) - sum(c.task_id in missing for c in pool.candidates)
    )
    if on_start is not None:
        on_start(len(todo))
    cache = LabelCache(cache_path)
    groups: dict[str, list[tuple[PoolCandidate, str]]] = defaultdict(list)
    jobs: dict[str, Job] = {}
    with JsonlAppender(out) as appender:

        def write(cand: PoolCandidate, result: ExecResult, sha: str | None) -> None:
            appender.append(labelled_row(cand, result, sha))
            stats.labelled += 1
            stats.passed += result.passed
            if on_progress is not None:
                on_progress(1)

        for cand in todo:
            prepared = candidate_program(cand, problems[cand.task_id])
            if prepared.program is None:
                stats.dropped += 1
                write(cand, ExecResult(Outcome.ERROR, f"not a program: {prepared.dropped}"), None)
                continue
            job = job_for(problems[cand.task_id], prepared.program)
            key = job_key(job, limits)
            sha = program_sha(prepared.program)
            cached = cache.get(key)
            if cached is not None:
                stats.from_cache += 1
                write(cand, cached, sha)
                continue
            if key in groups:
                stats.from_cache += 1
            groups[key].append((cand, sha))
            jobs.setdefault(key, job)
        try:
            with Sandbox(workers=workers, limits=limits) as sandbox:
                for key, result in sandbox.imap_unordered(jobs.items()):
                    stats.executed += 1
                    cache.put(key, result)
                    for cand, sha in groups[key]:
                        write(cand, result, sha)
        finally:
            cache.close()
    return stats
