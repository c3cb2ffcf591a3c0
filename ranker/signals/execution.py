"""Execution signals: run a problem's distinct candidate programs on its *visible* tests (the
docstring's examples, MBPP's given assert, an in-house problem's `visible_tests`; for a
stdin/stdout problem its visible input/output examples, e.g. CodeContests' public tests) in
the sandbox, and summarise what happened per program.

Per visible test a program either reproduces the example or not, raises, or times out; and,
where the test is `assert <call> == <expected>`, the sandbox also records the repr of what
`<call>` returned. A stdin/stdout program runs once per visible input and is judged by the
sandbox's own output comparison (whitespace-normalised, as labelling judges it); what it
printed is recorded as the digest of its normalised stdout. The tuple of those outcomes and
values is the program's *behaviour signature*: programs with equal signatures behave
identically on every input we know, and form one agreement cluster (CodeT's dual agreement,
without generated tests). Only visible tests are ever run here: the hidden tests that label
training data never reach the ranker.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ranker.examples import call_and_expected
from ranker.examples.calls import unseen_calls
from ranker.examples.derived import derived_calls
from ranker.examples.typed import TYPED_LIMIT, typed_calls
from ranker.sandbox import (
    ExecResult,
    FunctionJob,
    IOCase,
    IOCaseLike,
    Job,
    Limits,
    Outcome,
    Sandbox,
    StdioJob,
)
from ranker.signals.types import ExecutionSignals, ProgramRun


@dataclass(frozen=True)
class Probe:
    """One visible test: the statement that judges it (None for a bare input with no expected
    value, e.g. an LLM-proposed probe) and the call whose value is recorded (None when the
    test is not `assert <call> == <expected>`). A stdin/stdout problem's probe has neither
    but `io`, an input with its expected output: judged, and what was printed recorded."""

    statement: str | None
    call: str | None
    io: IOCase | None = None

    @property
    def judged(self) -> bool:
        """Whether the probe has an expected result (it counts among the examples)."""
        return self.statement is not None or self.io is not None


def split_assert(statement: str) -> str | None:
    """The call whose value a visible test checks: `<call>` of `assert <call> == <expected>`
    (either side may hold the call), of `assert math.isclose(<call>, <expected>)` and of the
    float-tolerant forms `ranker.examples` writes; None for any other statement."""
    pair = call_and_expected(statement)
    if pair is None:
        return None
    left, right = pair
    return right if _is_call(right) and not _is_call(left) else left


def _is_call(expression: str) -> bool:
    try:
        return isinstance(ast.parse(expression, mode="eval").body, ast.Call)
    except SyntaxError:
        return False


def probes_of(visible_tests: Sequence[str], derived: bool = True) -> list[Probe]:
    """Asserts are judged (and their call's value recorded); a lone expression is an input
    without an expected value, recorded only. Then, when `derived`, inputs derived from the
    examples (`ranker.examples.derived.derived_calls`), recorded only: they split programs that
    agree on the examples."""
    probes = []
    for test in visible_tests:
        if not test.strip():
            continue
        try:
            lone = ast.parse(test.strip(), mode="eval")
        except SyntaxError:
            probes.append(Probe(test, split_assert(test)))
        else:
            probes.append(Probe(None, ast.unparse(lone)))
    calls = [probe.call for probe in probes if probe.call is not None]
    if derived:
        probes.extend(Probe(None, call) for call in derived_calls(calls))
    return probes


def with_proposed(probes: Sequence[Probe], proposed: Sequence[str]) -> list[Probe]:
    """`probes`, then the `proposed` calls (test inputs a model proposed,
    `ranker.examples.proposed.proposed_calls`) that are not among them, recorded only: their
    expected values are not trusted, but programs that compute the same on them agree."""
    known = [probe.call for probe in probes if probe.call is not None]
    return [*probes, *(Probe(None, call) for call in unseen_calls(proposed, known))]


def function_probes(
    visible_tests: Sequence[str], prompt: str, entry_point: str, proposed: Sequence[str] = ()
) -> tuple[list[Probe], int]:
    """What a function's candidates run on, in training as in the editor: its visible tests
    and the inputs derived from them, or, without visible tests, inputs built from its
    parameter types; then the calls a model `proposed`. Returns the probes and how many of
    them (the last ones) the model proposed."""
    probes = probes_of(visible_tests) if visible_tests else typed_probes(prompt, entry_point)
    with_model = with_proposed(probes, proposed)
    return with_model, len(with_model) - len(probes)


def typed_probes(prompt: str, entry_point: str, limit: int = TYPED_LIMIT) -> list[Probe]:
    """For a function with no examples: calls built from its parameter types
    (`ranker.examples.typed.typed_calls`), recorded only; none when the types are unknown."""
    return [Probe(None, call) for call in typed_calls(prompt, entry_point, limit)]


def io_probes(visible_io_tests: Sequence[IOCaseLike]) -> list[Probe]:
    """A stdin/stdout problem's probes: its visible input/output examples, one each. No
    inputs are derived: the examples' inputs are whole files whose format only the problem
    statement describes."""
    return [Probe(None, None, IOCase(test.input, test.output)) for test in visible_io_tests]


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
"""A memory address in a default repr (`<function f at 0x7f...>`): it differs from one
process to the next, so it must not tell two behaviours apart."""


def _value_word(value: str) -> str:
    return "=" + _ADDRESS.sub(" at 0x", value)


def _outcome_word(outcome: Outcome, message: str) -> str:
    if outcome is Outcome.TIMEOUT:
        return "!timeout"
    if message.startswith("exit status ") and ": " in message:
        message = message.split(": ", 1)[1]  # a stdio run: its stderr's last line names the error
    kind = message.split(":", 1)[0].strip() if message else outcome.value
    return f"!{kind}"


def jobs_for(
    programs: Sequence[str], probes: Sequence[Probe], setup: str = "", case_timeout: float = 1.0
) -> list[Job]:
    """One job per program, with its time limit. Function probes: each probe's statement,
    then (when it has one) its bare call, whose value the sandbox reports, each case within
    `case_timeout` and the job within `default_limits` of its case count. Stdin/stdout
    probes: one run per input, each within `case_timeout`."""
    io_cases = [probe.io for probe in probes if probe.io is not None]
    if io_cases:
        if len(io_cases) != len(probes):
            raise ValueError("stdin/stdout probes cannot be mixed with function probes")
        return [
            StdioJob(program, io_cases, timeout=case_timeout, stop_on_failure=False)
            for program in programs
        ]
    cases: list[str] = []
    for probe in probes:
        if probe.statement is not None:
            cases.append(probe.statement)
        if probe.call is not None:
            cases.append(probe.call)
    timeout = default_limits(len(cases)).timeout
    return [
        FunctionJob(
            program,
            cases,
            setup,
            timeout=timeout,
            case_timeout=case_timeout,
            stop_on_failure=False,
        )
        for program in programs
    ]


def program_run(probes: Sequence[Probe], result: ExecResult) -> ProgramRun:
    """What one program's job (from `jobs_for`) says about it."""
    cases = list(result.cases)
    tallies = {"passed": 0, "failed": 0, "errors": 0, "timeouts": 0}
    signature: list[str] = []
    position = 0
    for probe in probes:
        judged = value_case = None
        if probe.judged:
            judged = cases[position] if position < len(cases) else None
            position += 1
        if probe.call is not None:
            value_case = cases[position] if position < len(cases) else None
            position += 1
        elif probe.io is not None:
            value_case = judged  # one stdio run is judged and records what it printed
        if judged is None and value_case is None:  # the program never got this far
            lost = Outcome.TIMEOUT if result.outcome is Outcome.TIMEOUT else Outcome.ERROR
            if probe.judged:
                tallies["timeouts" if lost is Outcome.TIMEOUT else "errors"] += 1
            signature.append(_outcome_word(lost, result.message))
            continue
        if judged is not None:
            if judged.outcome is Outcome.PASSED:
                tallies["passed"] += 1
            elif judged.outcome is Outcome.TIMEOUT:
                tallies["timeouts"] += 1
            elif (
                "AssertionError" in judged.message
                or judged.message.startswith("assert")
                or judged.value is not None  # a stdio run that ended normally: wrong output
            ):
                tallies["failed"] += 1
            else:
                tallies["errors"] += 1
        if value_case is not None and value_case.value is not None:
            signature.append(_value_word(value_case.value))
        elif value_case is not None:
            signature.append(_outcome_word(value_case.outcome, value_case.message))
        elif judged is not None:
            signature.append(judged.outcome.value)
    return ProgramRun(signature=tuple(signature), **tallies)


def summarise(
    probes: Sequence[Probe], results: Sequence[ExecResult], counts: Sequence[int]
) -> ExecutionSignals:
    """Turn sandbox results (one per program, from `jobs_for`) into signals."""
    runs = [program_run(probes, result) for result in results]
    return signals_from_runs(sum(p.judged for p in probes), runs, counts)


def signals_from_runs(
    cases: int, runs: Sequence[ProgramRun], counts: Sequence[int]
) -> ExecutionSignals:
    """Cluster programs by signature; a cluster's share counts duplicate answers too."""
    ids: dict[tuple[str, ...], int] = {}
    clusters = tuple(ids.setdefault(run.signature, len(ids)) for run in runs)
    total = sum(counts) or 1
    mass = [0.0] * len(ids)
    for cluster, count in zip(clusters, counts, strict=True):
        mass[cluster] += count
    shares = tuple(mass[c] / total for c in clusters)
    return ExecutionSignals(cases, tuple(runs), clusters, shares)


RUN_VERSION = "sandbox-3"  # 3: signatures without memory addresses
"""Part of every run key: bump it when a change to the executor can change a run."""


def run_key(program: str, probes: Sequence[Probe], setup: str = "") -> str:
    """The identity of one program's run on `probes`: a hash of the executor's version, the
    program, every probe and the setup code."""
    # a stdio probe adds its input and expected output
    tests = [
        [p.statement, p.call, *([p.io.input, p.io.output] if p.io is not None else [])]
        for p in probes
    ]
    blob = json.dumps([RUN_VERSION, program, tests, setup])
    return hashlib.sha256(blob.encode()).hexdigest()


class RunCache:
    """What programs did on their probes, by `run_key`: in memory (the `limit` most recently
    used, when given), and in a JSON-lines file when given one, read at start and appended to
    as runs finish (a line cut short by an interrupted run is skipped). A run that met an
    error of the sandbox's own (`ExecResult.sandbox_error`) is never kept: it must not outlive
    the run that met it; nor one in which the program never reached its first case (it costs
    little to redo). Not thread-safe: one user at a time."""

    def __init__(self, path: str | Path | None = None, limit: int | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.limit = limit
        self._runs: OrderedDict[str, ProgramRun] = OrderedDict()
        self._file: TextIO | None = None
        if self.path is not None and self.path.is_file():
            self._read(self.path)

    def _read(self, path: Path) -> None:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                try:
                    row = json.loads(line)
                    run = ProgramRun(
                        row["passed"],
                        row["failed"],
                        row["errors"],
                        row["timeouts"],
                        tuple(row["signature"]),
                    )
                except (ValueError, KeyError, TypeError):
                    continue  # cut short, or not a run
                self._runs[row["key"]] = run

    def get(self, key: str) -> ProgramRun | None:
        run = self._runs.get(key)
        if run is not None:
            self._runs.move_to_end(key)
        return run

    def put(self, key: str, run: ProgramRun, result: ExecResult) -> None:
        if result.sandbox_error or (result.outcome is Outcome.ERROR and not result.cases):
            return  # the sandbox's own error, or a program that never reached a case
        self._runs[key] = run
        self._runs.move_to_end(key)
        if self.limit is not None and len(self._runs) > self.limit:
            self._runs.popitem(last=False)
        if self.path is not None:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            row = {"key": key, **{f: getattr(run, f) for f in _RUN_FIELDS}}
            row["signature"] = list(run.signature)
            self._file.write(json.dumps(row) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __len__(self) -> int:
        return len(self._runs)


_RUN_FIELDS = ("passed", "failed", "errors", "timeouts", "signature")


def run_cached(
    sandbox: Sandbox,
    programs: Sequence[str],
    probes: Sequence[Probe],
    cache: RunCache | None,
    setup: str = "",
    case_timeout: float = 1.0,
    stop: threading.Event | None = None,
) -> tuple[list[ProgramRun], list[ExecResult]]:
    """Each program's run on the probes, from `cache` where it holds one, else run (`run_visible`;
    `stop` as there) and added to it. Returns the runs, aligned with `programs`, and the
    sandbox results of the programs that ran now."""
    keys = [run_key(program, probes, setup) for program in programs]
    runs: list[ProgramRun | None] = [cache.get(key) if cache is not None else None for key in keys]
    todo = [i for i, run in enumerate(runs) if run is None]
    results = run_visible(sandbox, [programs[i] for i in todo], probes, setup, case_timeout, stop)
    for i, result in zip(todo, results, strict=True):
        run = program_run(probes, result)
        runs[i] = run
        if cache is not None:
            cache.put(keys[i], run, result)
    return [run for run in runs if run is not None], results


class ExecutionCancelled(Exception):
    """`run_visible` was stopped before every program had run."""


def run_visible(
    sandbox: Sandbox,
    programs: Sequence[str],
    probes: Sequence[Probe],
    setup: str = "",
    case_timeout: float = 1.0,
    stop: threading.Event | None = None,
) -> list[ExecResult]:
    """Run every program on the probes (one job per program, with its time limit:
    `jobs_for`). Once `stop` is set no more jobs are handed out (those running end within
    their limits) and `ExecutionCancelled` is raised."""
    jobs = jobs_for(programs, probes, setup, case_timeout)
    if not jobs:
        return []

    def keyed() -> Iterator[tuple[int, Job]]:
        for index, job in enumerate(jobs):
            if stop is not None and stop.is_set():
                return  # the workers ask for their next job here: none once stopped
            yield index, job

    results = dict(sandbox.imap_unordered(keyed()))
    if stop is not None and stop.is_set():
        raise ExecutionCancelled
    return [results[i] for i in range(len(jobs))]


def execute_visible(
    sandbox: Sandbox,
    programs: Sequence[str],
    visible_tests: Sequence[str],
    counts: Sequence[int] | None = None,
    setup: str = "",
    case_timeout: float = 1.0,
    derived: bool = True,
    stop: threading.Event | None = None,
) -> ExecutionSignals | None:
    """Run every program on the visible tests (and, when `derived`, inputs derived from them,
    recorded only); None when there are none to run. `stop`: see `run_visible`."""
    probes = probes_of(visible_tests, derived)
    return execute_probes(sandbox, programs, probes, counts, setup, case_timeout, stop)


def execute_visible_io(
    sandbox: Sandbox,
    programs: Sequence[str],
    visible_io_tests: Sequence[IOCaseLike],
    counts: Sequence[int] | None = None,
    case_timeout: float = 1.0,
    stop: threading.Event | None = None,
) -> ExecutionSignals | None:
    """`execute_visible` for a stdin/stdout problem: every program runs on each visible
    input (`case_timeout` seconds per run); None when there are none to run."""
    probes = io_probes(visible_io_tests)
    return execute_probes(sandbox, programs, probes, counts, "", case_timeout, stop)


def execute_probes(
    sandbox: Sandbox,
    programs: Sequence[str],
    probes: Sequence[Probe],
    counts: Sequence[int] | None = None,
    setup: str = "",
    case_timeout: float = 1.0,
    stop: threading.Event | None = None,
) -> ExecutionSignals | None:
    """Run every program on the probes and summarise; None when there is nothing to run."""
    if not probes or not programs:
        return None
    counts = list(counts) if counts is not None else [1] * len(programs)
    results = run_visible(sandbox, programs, probes, setup, case_timeout, stop)
    return summarise(probes, results, counts)


def default_limits(cases: int) -> Limits:
    """Job limits for visible-test runs: a second per case, a little to start."""
    return Limits(timeout=min(10.0, 1.0 + cases), memory=2 << 30)
