"""Running candidates on the examples in the function's own docstring (`allowExecution`).

The examples are read from the function under the cursor (`ranker.examples`), each distinct
candidate program runs on them in the sandbox (`ranker.sandbox`: one forked, confined child
per program, in a pool of worker interpreters), and the outcome is the execution signals a
ranker takes (`ranker.signals.execution`), computed the same way as in training (`train.signals`).
Nothing else of the user's code runs: the program is the candidate with the file's imports.
The editor runs the bodies as applied; `toppass-train eval` runs them the same way.

A function whose docstring has no examples still runs when its parameters are annotated (or
have defaults): on a few typical inputs of those types (`ranker.examples.typed.typed_calls`),
with no expected results. Nothing is judged then; the runs only say which candidates compute
the same thing, and the ranking counts agreeing answers instead of identical ones
(`ranker.order`).

With `probeInputs`, the model is also asked for test inputs of the function (CodeT-style,
`toppass_ls.pipeline`); the calls it proposes run after the examples (or the typed inputs, or
alone where there are neither), unjudged: candidates that compute the same on them agree.

Execution is skipped, with a reason, when there is nothing to run or it cannot tell anything:
no examples and no parameter types, a method (its examples need an instance), an `async def`,
no candidate program that even loads (e.g. a decorator or import the sandbox cannot provide),
or a sandbox that fails. Blocking: called from the ranking worker thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ranker.examples import Example, extract_examples
from ranker.sandbox import ExecResult, Outcome, Sandbox
from ranker.signals.execution import (
    ExecutionCancelled,
    Probe,
    RunCache,
    default_limits,
    function_probes,
    run_cached,
    signals_from_runs,
)
from ranker.signals.types import ExecutionSignals
from ranker.source import FunctionContext

logger = logging.getLogger(__name__)

MAX_WORKERS = 4


@dataclass(frozen=True)
class ExampleRun:
    """What running the candidates on the docstring's examples gave: `signals` (aligned with
    the programs) when it ran, else None and `note` says why not."""

    signals: ExecutionSignals | None
    note: str
    seconds: float = 0.0

    @classmethod
    def skipped(cls, reason: str) -> ExampleRun:
        return cls(None, f"examples not run: {reason}")


def docstring_examples(ctx: FunctionContext) -> tuple[list[Example], str | None]:
    """The docstring's examples, or ([], why there are none to run)."""
    if ctx.in_class:
        return [], f"{ctx.name}() is a method (its examples need an instance)"
    if ctx.is_async:
        return [], f"{ctx.name}() is async (its examples give coroutines)"
    if not ctx.has_docstring:
        return [], f"{ctx.name}() has no docstring"
    examples = extract_examples(ctx.prompt, ctx.name, ctx.document_names)
    if not examples:
        return [], f"no examples found in the docstring of {ctx.name}()"
    return examples, None


def visible_tests(ctx: FunctionContext) -> tuple[list[str], str | None]:
    """The docstring's examples as standalone asserts, or ([], why there are none to run)."""
    examples, reason = docstring_examples(ctx)
    return [example.to_assert() for example in examples], reason


def probes_for(
    ctx: FunctionContext,
    examples: Sequence[Example],
    reason: str | None,
    proposed: Sequence[str] = (),
) -> tuple[list[Probe], int, str | None]:
    """What to run the candidates on: the docstring's `examples` (`docstring_examples`) and
    inputs derived from them; failing those (`reason` says why there are none), inputs built
    from the parameter types, unjudged; then the calls the model `proposed`, unjudged. Returns
    (the probes, how many of them the model proposed, None), or ([], 0, why nothing runs)."""
    if reason is not None and (ctx.in_class or ctx.is_async):
        return [], 0, reason
    tests = [example.to_assert() for example in examples] if reason is None else []
    probes, from_model = function_probes(tests, ctx.prompt, ctx.name, proposed)
    if not probes:
        return [], 0, f"{reason}, and its parameters have no types to build inputs from"
    return probes, from_model, None


def _nothing_loaded(results: Sequence[ExecResult]) -> str | None:
    """The first load error when no program got as far as its first example (the file's
    imports or the function's decorators cannot run in the sandbox: every title would read
    0/n for a reason that has nothing to do with the candidates)."""
    if results and all(r.outcome is Outcome.ERROR and not r.cases for r in results):
        return results[0].message or "error"
    return None


RUNS_KEPT = 20_000
"""Program runs a runner remembers (a few MB): a request for a function seen before reruns only
the programs it has not run yet on the same probes."""


class ExampleRunner:
    """Owns a long-lived sandbox, started on first use (worker interpreters stay up between
    requests) and closed with `close()`, and the runs it made (`cache`: by default the last
    `RUNS_KEPT` in memory; a file-backed `RunCache` keeps them across processes). Thread-safe."""

    def __init__(self, workers: int | None = None, cache: RunCache | None = None) -> None:
        self.workers = workers or max(1, min(MAX_WORKERS, os.cpu_count() or 1))
        self.cache = cache if cache is not None else RunCache(limit=RUNS_KEPT)
        self._sandbox: Sandbox | None = None
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._closed = False

    def sandbox(self) -> Sandbox:
        with self._lock:
            if self._closed:
                raise RuntimeError("the example runner is closed")
            if self._sandbox is None:
                # memory as in training; each job gets its time limit from jobs_for
                self._sandbox = Sandbox(workers=self.workers, limits=default_limits(1))
            return self._sandbox

    def close(self) -> None:
        """Stop the sandbox workers (a job still running is killed with its worker)."""
        with self._lock:
            self._closed = True
            sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            sandbox.close()
        self.cache.close()

    def run(
        self,
        ctx: FunctionContext,
        programs: Sequence[str],
        counts: Sequence[int],
        stop: threading.Event | None = None,
        proposed: Sequence[str] = (),
    ) -> ExampleRun:
        """Run `programs` (each sampled `counts` times) on the examples of `ctx`'s docstring
        (and the calls the model `proposed`, `probeInputs`). Never raises for a sandbox
        failure (the reason is in the note); raises `ExecutionCancelled` when `stop` is set
        meanwhile."""
        started = time.perf_counter()
        examples, reason = docstring_examples(ctx)
        probes, proposed_count, reason = probes_for(ctx, examples, reason, proposed)
        if reason is not None:
            return ExampleRun.skipped(reason)
        if not programs:
            return ExampleRun.skipped("no candidates")
        try:
            with self._run_lock:  # the cache has one user at a time
                runs, results = run_cached(self.sandbox(), programs, probes, self.cache, stop=stop)
        except ExecutionCancelled:
            raise
        except Exception as exc:  # the sandbox itself failed: rank without execution
            logger.warning("running the examples failed", exc_info=True)
            return ExampleRun.skipped(f"the sandbox failed ({type(exc).__name__}: {exc})")
        load_error = _nothing_loaded(results) if len(results) == len(programs) else None
        if load_error is not None:
            return ExampleRun.skipped(f"no candidate loads in the sandbox ({load_error})")
        signals = signals_from_runs(sum(p.judged for p in probes), runs, counts)
        seconds = time.perf_counter() - started
        if signals.judged:
            on = _count(signals.cases, "docstring example")
            old = {e.written_as for e in examples if e.written_as is not None}
            if old:  # read as this function's (ranker.examples: a renamed function)
                on += f" (written as {', '.join(f'{name}()' for name in sorted(old))})"
        else:
            typed = len(probes) - proposed_count
            on = _count(typed, "input") + " built from the parameter types" if typed else ""
        if proposed_count:
            on += " and " if on else ""
            on += _count(proposed_count, "input") + " the model proposed"
        if not signals.judged:
            on += " (agreement only)"
        note = f"ran {_count(len(programs), 'candidate')} on {on}"
        return ExampleRun(signals, note, seconds)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
