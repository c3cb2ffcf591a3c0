"""The executor's ordinary behaviour: outcomes, cases, values, stdio comparison, pools."""

from __future__ import annotations

import textwrap

import pytest

from ranker.sandbox import (
    FunctionJob,
    IOCase,
    Limits,
    Outcome,
    Sandbox,
    StdioJob,
    execute_many,
    run_function_tests,
    run_stdio_tests,
)
from ranker.sandbox._harness import compile_case, normalise_output, output_digest

ADD = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, limits=Limits(timeout=2.0, memory=1 << 30)) as box:
        yield box


def test_outcomes_and_messages(sandbox):
    assert sandbox.run(FunctionJob(ADD, ["assert add(1, 2) == 3"])).passed
    failed = sandbox.run(FunctionJob(ADD, ["assert add(1, 2) == 4, 'off by one'"]))
    assert (
        failed.outcome is Outcome.FAILED and failed.message == "case 0: AssertionError: off by one"
    )
    assert failed.result == "failed: case 0: AssertionError: off by one"
    broken = sandbox.run(FunctionJob("def add(a, b)\n    return a", ["assert add(1, 2) == 3"]))
    assert broken.outcome is Outcome.ERROR and broken.message.startswith("does not compile")
    raising = sandbox.run(FunctionJob("import no_such_module", ["assert True"]))
    assert raising.outcome is Outcome.ERROR and "ModuleNotFoundError" in raising.message
    bad_tests = sandbox.run(FunctionJob(ADD, ["assert add(1, 2) =="]))
    assert bad_tests.outcome is Outcome.ERROR and "test code does not compile" in bad_tests.message
    slow = sandbox.run(FunctionJob("import time\ntime.sleep(5)", ["assert True"], timeout=0.3))
    assert slow.outcome is Outcome.TIMEOUT and slow.result == "timed out"


def test_cases_are_judged_separately_with_values(sandbox):
    job = FunctionJob(ADD, ["add(1, 2)", "add('a', 'b')", "add(1)", "x = add(2, 2)\nassert x == 4"])
    result = sandbox.run(job)
    assert result.outcome is Outcome.FAILED  # stop_on_failure: case 3 never ran
    assert [c.outcome for c in result.cases] == [Outcome.PASSED, Outcome.PASSED, Outcome.FAILED]
    assert [c.value for c in result.cases] == ["3", "'ab'", None]
    every = sandbox.run(FunctionJob(ADD, job.tests, stop_on_failure=False))
    assert [c.outcome.value for c in every.cases] == ["passed", "passed", "failed", "passed"]


def test_case_timeout_leaves_later_cases_running(sandbox):
    program = "def f(x):\n    while x:\n        pass\n    return x\n"
    job = FunctionJob(program, ["f(1)", "f(0)"], case_timeout=0.2, stop_on_failure=False)
    result = sandbox.run(job)
    assert [c.outcome for c in result.cases] == [Outcome.TIMEOUT, Outcome.PASSED]
    assert result.outcome is Outcome.TIMEOUT


def test_captured_stdout_and_setup_order(sandbox):
    program = "class Node:\n    def __init__(self, v):\n        self.v = v\ndef show(n):\n    print('v =', n.v)\n    return n.v\n"
    job = FunctionJob(program, ["show(root)"], setup="root = Node(7)", capture_stdout=True)
    case = sandbox.run(job).cases[0]
    assert (case.outcome, case.value, case.stdout) == (Outcome.PASSED, "7", "v = 7\n")


def test_program_is_compiled_with_its_own_future_flags(sandbox):
    """The harness module's `from __future__ import annotations` must not leak into the
    candidate: an annotation naming an unimported type fails as it would in a script."""
    program = "def f(xs: List[int]) -> List[int]:\n    return xs\n"
    result = sandbox.run(FunctionJob(program, ["assert f([1]) == [1]"]))
    assert result.outcome is Outcome.ERROR and "NameError" in result.message


def test_program_namespace_is_not_main(sandbox):
    program = "def f():\n    return 1\nif __name__ == '__main__':\n    input()\n"
    assert sandbox.run(FunctionJob(program, ["assert f() == 1"])).passed


@pytest.mark.parametrize(
    "program,test",
    [
        (
            "import numpy as np\ndef f():\n    return np.float64(0.5)",
            "assert abs(f() - 0.5) < 1e-9",
        ),
        (
            "from collections import Counter\ndef f():\n    return Counter('aab')",
            "assert f() == {'a': 2, 'b': 1}",
        ),
        (
            "from fractions import Fraction\ndef f():\n    return Fraction(1, 2)",
            "assert f() == 0.5",
        ),
        (
            "from collections import namedtuple\nP = namedtuple('P', 'x y')\ndef f():\n    return P(1, 2)",
            "assert f() == (1, 2)",
        ),
        (
            "class Box:\n    def __init__(self, v):\n        self.v = v\ndef f():\n    return Box(3)",
            "assert f().v == 3",
        ),
        (
            "def f():\n    return [[1, 2], {'k': (3, {4})}]",
            "assert f() == [[1, 2], {'k': (3, {4})}]",
        ),
    ],
    ids=["numpy-scalar", "counter", "fraction", "namedtuple", "plain-class", "nested"],
)
def test_guard_accepts_honest_values(sandbox, program, test):
    assert sandbox.run(FunctionJob(program, [test])).passed


def test_test_code_runs_as_module_code(sandbox):
    """Test code is module code in the judge's namespace (functions it defines see its
    globals, star imports work); a lone expression is compiled to return its value."""
    _code, returns_value = compile_case("import math\nVALUE = 2\ndef check(c):\n    pass\n")
    assert not returns_value
    assert compile_case("add(1, 2)")[1]
    program = "def double(x):\n    return 2 * x\n"
    tests = "from math import *\nVALUE = 1\ndef check(c):\n    assert c(VALUE) == sqrt(4)\ncheck(double)"
    assert sandbox.run(FunctionJob(program, [tests])).passed
    assert not sandbox.run(FunctionJob(program.replace("2 *", "3 *"), [tests])).passed


def test_stdio_outcomes(sandbox):
    program = "a, b = map(int, input().split())\nprint(a + b)\n"
    cases = [IOCase("1 2\n", "3\n"), IOCase("5 5\n", "10")]
    result = sandbox.run(StdioJob(program, cases))
    assert result.passed and [c.stdout for c in result.cases] == ["3\n", "10\n"]
    wrong = sandbox.run(StdioJob(program.replace("+", "-"), cases))
    assert wrong.outcome is Outcome.FAILED and wrong.message == "case 0: wrong answer"
    # a run that ends normally reports the digest of its normalised output, right or wrong
    assert result.cases[1].value == output_digest("10", "tokens")
    assert wrong.cases[0].value == output_digest("-1", "tokens") != result.cases[0].value
    crash = sandbox.run(StdioJob("raise ValueError('bad input')", cases))
    assert crash.outcome is Outcome.FAILED and "ValueError: bad input" in crash.message
    assert crash.cases[0].value is None
    exits = sandbox.run(StdioJob("print(3)\nimport sys\nsys.exit(0)", cases[:1]))
    assert exits.passed  # exit status 0 after printing is an ordinary end for a stdio program
    slow = sandbox.run(StdioJob("while True:\n    pass", cases, timeout=0.3))
    assert slow.outcome is Outcome.TIMEOUT
    syntax = sandbox.run(StdioJob("print(", cases))
    assert syntax.outcome is Outcome.ERROR


def test_stdio_reads_all_input_forms(sandbox):
    program = textwrap.dedent(
        """
        import sys
        first = sys.stdin.buffer.readline()
        rest = sys.stdin.read().split()
        sys.stdout.write(first.decode().strip() + ' ' + str(sum(map(int, rest))) + '\\n')
        """
    )
    assert sandbox.run(StdioJob(program, [IOCase("n\n1 2\n3\n", "n 6")])).passed


@pytest.mark.parametrize(
    "mode,a,b,equal",
    [
        ("tokens", "1  2\n3\n", "1 2 3", True),
        ("lines", "1  2\n3\n", "1 2\n3", False),
        ("lines", "1 2  \n3\n\n", "1 2\n3", True),
        ("exact", "3\n", "3", False),
    ],
)
def test_output_normalisation(mode, a, b, equal):
    assert (normalise_output(a, mode) == normalise_output(b, mode)) is equal


def test_execute_many_keys_results_and_calls_back():
    jobs = [
        ((f"t{i}", i), FunctionJob(ADD, [f"assert add({i}, 1) == {i + 1 if i % 2 else 0}"]))
        for i in range(6)
    ]
    seen = []
    results = execute_many(jobs, workers=2, on_result=lambda key, result: seen.append(key))
    assert sorted(seen) == sorted(key for key, _ in jobs)
    assert {key: r.passed for key, r in results.items()} == {
        (f"t{i}", i): i % 2 == 1 for i in range(6)
    }


def test_one_off_helpers():
    assert run_function_tests(ADD, "assert add(2, 2) == 4").passed
    assert run_stdio_tests("print(input()[::-1])", [IOCase("abc\n", "cba")]).passed


def test_features_are_reported(sandbox):
    features = sandbox.features
    assert {"landlock", "seccomp", "pid_namespace", "network_namespace"} <= set(features)
