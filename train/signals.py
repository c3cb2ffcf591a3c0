"""Signals for training and evaluation slates: execution on each problem's visible tests (run
in the sandbox, cached on disk by program and probes) and likelihood scores from feature
files (`train.likelihood_features`).

Only `visible_tests` (function problems) and `visible_io_tests` (stdin/stdout problems, e.g.
CodeContests' public examples) ever run here; the hidden tests that produced the labels never
do, so the ranker learns to use exactly what the editor will have: the examples in the
docstring, or those a problem statement shows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ranker.candidates import program_sha
from ranker.execution import (
    Probe,
    ProgramRun,
    default_limits,
    function_probes,
    io_probes,
    jobs_for,
    program_run,
    signals_from_runs,
)
from ranker.features import Signals
from ranker.sandbox import Sandbox
from train.jsonl import JsonlAppender, read_jsonl
from train.problems import Problem
from train.slates import Slate

DEFAULT_CACHE = Path.home() / ".cache" / "toppass" / "visible-runs.jsonl"
CACHE_VERSION = "sandbox-2"  # bump when a change to the executor can change a run


def _run_key(program: str, probes: Sequence[Probe], setup: str) -> str:
    # a stdio probe adds its input and expected output
    tests = [
        [p.statement, p.call, *([p.io.input, p.io.output] if p.io is not None else [])]
        for p in probes
    ]
    blob = json.dumps([CACHE_VERSION, program, tests, setup])
    return hashlib.sha256(blob.encode()).hexdigest()


def visible_probes(problem: Problem) -> list[Probe]:
    """What runs for a problem: its visible tests and inputs derived from them (function
    problems), or its visible input/output examples (stdin/stdout problems). A function
    problem without visible tests runs on inputs built from its parameter types, when the
    prompt annotates them (`typed_probes`): unjudged, for agreement only, as in the editor.
    Inputs a model proposed (`Problem.proposed_inputs`) run after either, unjudged too."""
    if problem.entry_point:
        return function_probes(
            problem.visible_tests, problem.prompt, problem.entry_point, problem.proposed_inputs
        )[0]
    return io_probes(problem.visible_io_tests)


def execution_signals(
    slates: Sequence[Slate],
    problems: Mapping[str, Problem],
    workers: int = 2,
    cache_path: Path | None = DEFAULT_CACHE,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Signals]:
    """Execution signals for every slate whose problem has visible tests, visible
    input/output examples or typed parameters (others get none)."""
    cached: dict[str, ProgramRun] = {}
    if cache_path is not None and cache_path.is_file():
        for _, row in read_jsonl(cache_path, resuming=True):
            cached[row["key"]] = ProgramRun(
                row["passed"],
                row["failed"],
                row["errors"],
                row["timeouts"],
                tuple(row["signature"]),
            )
    todo = []
    keys: dict[str, list[str]] = {}
    judged: dict[str, int] = {}
    for slate in slates:
        problem = problems[slate.task_id]
        probes = visible_probes(problem)
        if not probes:
            continue
        judged[slate.task_id] = sum(p.judged for p in probes)
        slate_keys = [_run_key(p, probes, problem.setup) for p in slate.programs]
        keys[slate.task_id] = slate_keys
        missing = [
            (k, p) for k, p in zip(slate_keys, slate.programs, strict=True) if k not in cached
        ]
        if missing:
            jobs = jobs_for([p for _, p in missing], probes, problem.setup)
            todo += [(key, job, probes) for (key, _), job in zip(missing, jobs, strict=True)]
    done = 0
    if todo:
        appender = JsonlAppender(cache_path) if cache_path is not None else None
        probes_by_key = {key: probes for key, _, probes in todo}
        try:
            # memory as the editor's runs; each job carries its own time limit (jobs_for)
            with Sandbox(workers=workers, limits=default_limits(1)) as sandbox:
                unique = {key: job for key, job, _ in todo}
                for key, result in sandbox.imap_unordered(unique.items()):
                    run = program_run(probes_by_key[key], result)
                    cached[key] = run
                    # the sandbox's own errors are used for this run only, never kept
                    if appender is not None and not result.sandbox_error:
                        appender.append(
                            {
                                "key": key,
                                "passed": run.passed,
                                "failed": run.failed,
                                "errors": run.errors,
                                "timeouts": run.timeouts,
                                "signature": list(run.signature),
                            }
                        )
                    done += 1
                    if progress is not None:
                        progress(done, len(unique))
        finally:
            if appender is not None:
                appender.close()
    out: dict[str, Signals] = {}
    for slate in slates:
        if slate.task_id not in keys:
            continue
        runs = [cached[key] for key in keys[slate.task_id]]
        execution = signals_from_runs(judged[slate.task_id], runs, slate.counts)
        out[slate.task_id] = Signals(execution=execution)
    return out


def with_likelihood(
    slates: Sequence[Slate],
    signals: Mapping[str, Signals],
    rows: Mapping[tuple[str, str], Mapping[str, Any]],
) -> dict[str, Signals]:
    """Add likelihood scores (rows of a feature file, `train.likelihood_features`) to each
    slate's signals where every program of the slate has a row."""
    out = dict(signals)
    for slate in slates:
        found = [rows.get((slate.task_id, program_sha(p))) for p in slate.programs]
        values = [(float(r["coder"]), float(r["reviewer"])) for r in found if r is not None]
        if len(values) == len(slate.programs):
            base = out.get(slate.task_id, Signals())
            out[slate.task_id] = Signals(base.execution, values)
    return out
