"""Signals for training and evaluation slates: execution on each problem's visible tests (run
in the sandbox, cached on disk by program and probes) and likelihood scores from feature
files (`train.likelihood_features`).

Only `visible_tests` (function problems) and `visible_io_tests` (stdin/stdout problems, e.g.
CodeContests' public examples) ever run here; the hidden tests that produced the labels never
do, so the ranker learns to use exactly what the editor will have: the examples in the
docstring, or those a problem statement shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ranker.cache import cache_home
from ranker.candidates import program_sha
from ranker.sandbox import Sandbox
from ranker.signals.execution import (
    Probe,
    RunCache,
    default_limits,
    function_probes,
    io_probes,
    jobs_for,
    program_run,
    run_key,
    signals_from_runs,
)
from ranker.signals.types import ProgramRun, Signals
from train.problems import Problem
from train.slates import Slate


def default_runs_cache() -> Path:
    """The cache of programs run on visible tests, under the cache home (`ranker.cache`)."""
    return cache_home() / "visible-runs.jsonl"


DEFAULT: Literal["default"] = "default"
"""`execution_signals(cache_path=DEFAULT)`: the cache at `default_runs_cache()`."""


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
    cache_path: Path | Literal["default"] | None = DEFAULT,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Signals]:
    """Execution signals for every slate whose problem has visible tests, visible
    input/output examples or typed parameters (others get none). Runs are kept in
    `cache_path` (None: nowhere; `DEFAULT`: `default_runs_cache()`)."""
    cache = RunCache(default_runs_cache() if cache_path == DEFAULT else cache_path)
    ran: dict[str, ProgramRun] = {}  # this call's runs, kept or not by the cache
    todo = []
    keys: dict[str, list[str]] = {}
    judged: dict[str, int] = {}
    for slate in slates:
        problem = problems[slate.task_id]
        probes = visible_probes(problem)
        if not probes:
            continue
        judged[slate.task_id] = sum(p.judged for p in probes)
        slate_keys = [run_key(p, probes, problem.setup) for p in slate.programs]
        keys[slate.task_id] = slate_keys
        missing = [
            (k, p) for k, p in zip(slate_keys, slate.programs, strict=True) if cache.get(k) is None
        ]
        if missing:
            jobs = jobs_for([p for _, p in missing], probes, problem.setup)
            todo += [(key, job, probes) for (key, _), job in zip(missing, jobs, strict=True)]
    try:
        if todo:
            probes_by_key = {key: probes for key, _, probes in todo}
            unique = {key: job for key, job, _ in todo}
            # memory as the editor's runs; each job carries its own time limit (jobs_for)
            with Sandbox(workers=workers, limits=default_limits(1)) as sandbox:
                for done, (key, result) in enumerate(sandbox.imap_unordered(unique.items()), 1):
                    ran[key] = program_run(probes_by_key[key], result)
                    cache.put(key, ran[key], result)
                    if progress is not None:
                        progress(done, len(unique))
        out: dict[str, Signals] = {}
        for slate in slates:
            if slate.task_id not in keys:
                continue
            runs = [ran.get(key) or cache.get(key) for key in keys[slate.task_id]]
            execution = signals_from_runs(
                judged[slate.task_id], [run for run in runs if run is not None], slate.counts
            )
            out[slate.task_id] = Signals(execution=execution)
        return out
    finally:
        cache.close()


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
