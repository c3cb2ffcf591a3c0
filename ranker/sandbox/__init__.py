"""Run untrusted candidate programs against tests, isolated, with named outcomes.

    from ranker.sandbox import FunctionJob, Sandbox

    with Sandbox(workers=4) as sandbox:
        result = sandbox.run(FunctionJob(program, ["assert add(1, 2) == 3"]))
        result.outcome, result.message      # Outcome.PASSED / FAILED / TIMEOUT / ERROR

One-off calls: `run_function_tests`, `run_stdio_tests`; many jobs: `Sandbox.imap_unordered`
or `execute_many`. Used by labelling (train) and, at serving time, to run candidates on a
docstring's examples. What the isolation does and does not contain: docs/sandbox.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from ranker.sandbox.jobs import (
    CaseResult,
    ExecResult,
    FunctionJob,
    IOCase,
    IOCaseLike,
    Isolation,
    Job,
    Limits,
    Outcome,
    StdioJob,
)
from ranker.sandbox.pool import Sandbox, SandboxError, execute_many


def run_function_tests(
    program: str,
    tests: str | Sequence[str],
    setup: str = "",
    limits: Limits | None = None,
    stop_on_failure: bool = True,
) -> ExecResult:
    """Run one program against test code (one string: one case; a list: one case each) in a
    one-worker sandbox. For many jobs keep a `Sandbox` open instead."""
    cases = [tests] if isinstance(tests, str) else list(tests)
    with Sandbox(workers=1, limits=limits) as sandbox:
        return sandbox.run(FunctionJob(program, cases, setup, stop_on_failure=stop_on_failure))


def run_stdio_tests(
    program: str,
    io_tests: Sequence[IOCaseLike],
    compare: str = "tokens",
    limits: Limits | None = None,
    stop_on_failure: bool = True,
) -> ExecResult:
    """Run one stdin/stdout program on each case in a one-worker sandbox."""
    with Sandbox(workers=1, limits=limits) as sandbox:
        return sandbox.run(StdioJob(program, io_tests, compare, stop_on_failure=stop_on_failure))


__all__ = [
    "CaseResult",
    "ExecResult",
    "FunctionJob",
    "IOCase",
    "IOCaseLike",
    "Isolation",
    "Job",
    "Limits",
    "Outcome",
    "Sandbox",
    "SandboxError",
    "StdioJob",
    "execute_many",
    "run_function_tests",
    "run_stdio_tests",
]
