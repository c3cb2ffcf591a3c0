"""Execution signals for stdin/stdout problems: each program runs on the visible input/output
examples in the sandbox, judged as labelling judges (whitespace-normalised stdout), and
programs printing the same thing on every visible input share a cluster."""

import json
from typing import Any

import pytest
from pool_eval import eval_answers

from ranker.model.features import feature_matrix, feature_names
from ranker.sandbox import IOCase, Limits, Sandbox, StdioJob
from ranker.signals.execution import Probe, execute_visible_io, io_probes, jobs_for
from ranker.signals.types import Signals
from train.problems import IOTest, Problem
from train.signals import execution_signals
from train.slates import Slate

VISIBLE = (IOTest("1 2\n", "3\n"), IOTest("5 5\n", "10\n"))
PROGRAMS = [
    "a, b = map(int, input().split())\nprint(a + b)\n",
    "a, b = map(int, input().split())\nprint(a - b)\n",
    "a, b = map(int, input().split())\nprint(a // (a - a))\n",
    "while True:\n    pass\n",
    "import sys\nprint(sum(int(t) for t in sys.stdin.read().split()), end='  \\n\\n')\n",
    "print(7)\n",
    "print(7 if input() else 0)\n",
    "print(\n",
]
GOOD, OFF, CRASH, LOOP, SAME, SEVEN, SEVEN_TOO, BROKEN = range(len(PROGRAMS))
CASE_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def signals():
    with Sandbox(workers=2, limits=Limits(timeout=4)) as sandbox:
        return execute_visible_io(
            sandbox, PROGRAMS, VISIBLE, counts=[2, 1, 1, 1, 1, 1, 1, 1], case_timeout=CASE_TIMEOUT
        )


def test_io_probes_make_one_stdio_job_per_program_with_no_derived_inputs():
    probes = io_probes(VISIBLE)
    assert [p.io for p in probes] == [IOCase("1 2\n", "3\n"), IOCase("5 5\n", "10\n")]
    assert all(p.judged and p.statement is None and p.call is None for p in probes)
    (job,) = jobs_for(PROGRAMS[:1], probes, case_timeout=CASE_TIMEOUT)
    assert isinstance(job, StdioJob)
    assert (job.compare, job.timeout, job.stop_on_failure) == ("tokens", CASE_TIMEOUT, False)
    with pytest.raises(ValueError, match="mixed"):
        jobs_for(PROGRAMS[:1], [*probes, Probe("assert f(1) == 2", "f(1)")])


def test_runs_tally_outcomes_per_visible_example(signals):
    assert signals is not None and signals.cases == 2
    runs = signals.runs
    assert (runs[GOOD].passed, runs[GOOD].failed) == (2, 0)
    assert (runs[SAME].passed, runs[SAME].failed) == (2, 0)  # extra whitespace is no error
    assert (runs[OFF].passed, runs[OFF].failed, runs[OFF].errors) == (0, 2, 0)
    assert (runs[CRASH].errors, runs[CRASH].failed) == (2, 0)
    assert runs[CRASH].signature == ("!ZeroDivisionError", "!ZeroDivisionError")
    assert (runs[LOOP].timeouts, runs[LOOP].passed) == (2, 0)
    assert runs[LOOP].signature == ("!timeout", "!timeout")
    assert (runs[BROKEN].errors, runs[BROKEN].cases) == (2, 2)  # does not compile
    assert signals.summary(GOOD) == "2/2 examples" and signals.tiers[OFF] == 0


def test_equal_output_shares_a_cluster_and_different_output_does_not(signals):
    clusters = signals.clusters
    assert clusters[GOOD] == clusters[SAME]  # different programs, same normalised stdout
    assert clusters[SEVEN] == clusters[SEVEN_TOO]  # both wrong, but wrong alike
    assert len({clusters[i] for i in (GOOD, OFF, CRASH, LOOP, SEVEN, BROKEN)}) == 6
    assert signals.runs[GOOD].signature[0].startswith("=")
    assert signals.runs[OFF].signature[0] != signals.runs[GOOD].signature[0]
    assert signals.cluster_shares[GOOD] == pytest.approx(3 / 9)  # counts 2 + 1 of 9 answers


def test_stdio_signals_make_the_same_features(signals):
    names = feature_names(("execution",))
    matrix = feature_matrix(len(PROGRAMS), Signals(signals), ("execution",))
    rows = [dict(zip(names, row.tolist(), strict=True)) for row in matrix]
    assert all(row["exec_available"] == 1 for row in rows)
    assert rows[GOOD]["exec_all_pass"] == 1 and rows[GOOD]["exec_largest_cluster"] == 1
    assert rows[GOOD]["exec_passing_cluster_share"] == pytest.approx(1.0)
    assert rows[OFF]["exec_pass_fraction"] == 0 and rows[OFF]["exec_error_fraction"] == 0
    assert rows[CRASH]["exec_error_fraction"] == 1 and rows[LOOP]["exec_timeout_fraction"] == 1


def test_execution_signals_on_stdio_slates_and_the_cache(tmp_path):
    stdio = Problem("acme/sum", "Read two integers and print their sum.", visible_io_tests=VISIBLE)
    hidden_only = Problem("acme/hidden", "Print 1.", io_tests=(IOTest("", "1\n"),))
    slates = [
        Slate(stdio.task_id, stdio.prompt, tuple(PROGRAMS[:2]), (True, False), (3, 1)),
        Slate(hidden_only.task_id, hidden_only.prompt, ("print(1)\n",), (True,), (1,)),
    ]
    problems = {p.task_id: p for p in (stdio, hidden_only)}
    cache = tmp_path / "runs.jsonl"
    ticks: list[tuple[int, int]] = []
    signals = execution_signals(
        slates, problems, cache_path=cache, progress=lambda d, t: ticks.append((d, t))
    )
    assert set(signals) == {"acme/sum"}  # no visible examples: no execution signals
    execution = signals["acme/sum"].execution
    assert execution is not None and execution.cases == 2
    assert [run.passed for run in execution.runs] == [2, 0]
    assert execution.cluster_shares == (0.75, 0.25) and ticks[-1] == (2, 2)
    assert len(cache.read_text().splitlines()) == 2
    # a second pass reads the cache; other expected outputs are another key
    again = execution_signals(slates, problems, cache_path=cache, progress=ticks.append)
    assert again["acme/sum"].execution == execution and ticks[-1] == (2, 2)
    changed = Problem(stdio.task_id, stdio.prompt, visible_io_tests=(IOTest("1 2\n", "4\n"),))
    other = execution_signals(slates[:1], {stdio.task_id: changed}, cache_path=cache)
    other_execution = other["acme/sum"].execution
    assert other_execution is not None and [r.passed for r in other_execution.runs] == [0, 0]
    assert len(cache.read_text().splitlines()) == 4
    uncached = execution_signals(slates, problems, cache_path=None)
    assert uncached["acme/sum"].execution == execution


STDIO_PROBLEM = {
    "task_id": "acme/sum",
    "prompt": "Read two integers and print their sum.",
    "tests": [
        {"input": "1 2\n", "output": "3\n"},
        {"input": "5 5\n", "output": "10\n"},
        {"input": "-4 4\n", "output": "0\n"},
    ],
    "visible_tests": [{"input": "1 2\n", "output": "3\n"}],
}


def test_toppass_train_eval_runs_an_in_house_stdio_problem(tmp_path):
    """The shipped ranker and the execution baseline both get the stdio problem's signals
    (runs are cached in the default visible-runs cache, as in tests/test_train_cli.py)."""
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps(STDIO_PROBLEM) + "\n")
    answers: list[dict[str, Any]] = [
        {"code": PROGRAMS[OFF], "passed": False},
        {"code": PROGRAMS[CRASH], "passed": False},
        {"code": PROGRAMS[GOOD], "passed": True},  # last: storage order does not help it
    ]
    payload = eval_answers(problems, tmp_path / "pool.jsonl", "acme/sum", answers)
    assert payload["settings"]["problems_with_visible_tests"] == 1
    assert payload["random"]["pass@1"] == pytest.approx(1 / 3, abs=1e-3)
    # only the right program prints the visible example's output
    assert payload["baselines"]["execution"]["pass@1"] == 1.0
    assert payload["ranked"]["pass@1"] == 1.0  # the shipped ranker reads the same features
