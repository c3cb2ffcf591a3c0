"""Benchmark loaders: each published schema, read from a small hand-written fixture, gives
problems whose reference solutions pass their own tests in the sandbox."""

from __future__ import annotations

import json

import pytest

from ranker.sandbox import FunctionJob, Limits, Sandbox, StdioJob
from train.jsonl import DataError
from train.loaders import detect_schema, load_problems
from train.loaders.humaneval import visible_asserts
from train.loaders.records import read_records
from train.problems import IOTest

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, limits=Limits(timeout=5.0, memory=1 << 30)) as box:
        yield box


def reference_passes(sandbox, problem) -> bool:
    reference = problem.extra["reference"]
    if problem.mode == "function":
        job = FunctionJob(reference, [problem.tests], problem.setup)
    else:
        job = StdioJob(reference, problem.io_tests)
    result = sandbox.run(job)
    assert result.passed, (problem.task_id, result.result)
    return True


def test_humaneval_from_the_package(sandbox):
    problems = load_problems("humaneval")
    assert len(problems) == 164
    first = problems["HumanEval/0"]
    assert first.entry_point == "has_close_elements" and first.tests.endswith(
        "check(has_close_elements)\n"
    )
    assert first.visible_tests == (
        "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False",
        "assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True",
    )
    # docstring examples in every written form (tests/test_examples.py); `>>>` alone: 69
    assert sum(bool(p.visible_tests) for p in problems.values()) == 156
    for task in ("HumanEval/0", "HumanEval/32", "HumanEval/163"):
        assert reference_passes(sandbox, problems[task])


def test_visible_asserts_skip_what_is_not_an_example():
    prompt = 'def f(x):\n    """Doc.\n    >>> f(1)\n    2\n    >>> print(f(1))\n    >>> f(2)\n    Traceback (most recent call last):\n    ValueError\n    """\n'
    assert visible_asserts(prompt, "f") == ("assert f(1) == 2",)


@pytest.mark.parametrize("spec", ["mbpp_sample.jsonl", "mbpp:{}/mbpp_sample.jsonl"])
def test_mbpp_full_schema(sandbox, spec):
    problems = load_problems(spec.format(FIXTURES) if "{}" in spec else FIXTURES / spec)
    add = problems["MBPP/901"]
    assert (
        add.prompt
        == 'def add_nums(a, b): \n    """\n    Write a function to add two numbers.\n    """\n'
    )
    assert add.entry_point == "add_nums"  # the tested function, not the helper defined first
    assert add.visible_tests == ("assert add_nums(1, 2) == 3",)
    tree = problems["MBPP/902"]
    assert tree.setup == "root = Node(7)"  # runs after the program: it uses the program's class
    for problem in problems.values():
        assert reference_passes(sandbox, problem)


def test_mbpp_sanitized_schema(sandbox):
    problems = load_problems(FIXTURES / "mbpp_sanitized_sample.json")
    problem = problems["MBPP/901"]
    assert problem.source == "mbpp-sanitized" and problem.setup == "import math"
    assert reference_passes(sandbox, problem)


def test_evalplus_schemas(sandbox):
    mbpp_plus = load_problems(FIXTURES / "mbpp_plus_sample.jsonl")
    shared = mbpp_plus["MBPP/903"]
    assert (
        shared.prompt.startswith("def similar_elements(a, b):\n") and "assert" not in shared.prompt
    )
    assert shared.visible_tests == (
        "assert set(similar_elements((1, 2, 3), (2, 3, 4))) == set((2, 3))",
    )
    for problem in mbpp_plus.values():
        assert reference_passes(sandbox, problem)
    # set-equality oracle: any order is right; float tolerance: tiny error is right
    any_order = (
        "def similar_elements(a, b):\n    return tuple(sorted(set(b) & set(a), reverse=True))"
    )
    assert sandbox.run(FunctionJob(any_order, [shared.tests])).passed
    average = mbpp_plus["MBPP/904"]
    close = "def average(xs):\n    return sum(xs) / len(xs) + 1e-12"
    assert sandbox.run(FunctionJob(close, [average.tests])).passed
    wrong = "def average(xs):\n    return sum(xs) // len(xs)"
    assert not sandbox.run(FunctionJob(wrong, [average.tests])).passed
    humaneval_plus = load_problems(FIXTURES / "humaneval_plus_sample.jsonl")
    double = humaneval_plus["HumanEval/900"]
    assert double.visible_tests == ("assert double(2) == 4", "assert double(-1) == -2")
    assert reference_passes(sandbox, double)
    almost = double.prompt + "    return 2 * x if x < 1000 else x\n"
    assert not sandbox.run(FunctionJob(almost, [double.tests])).passed  # plus inputs catch it


def test_apps_schema(sandbox):
    problems = load_problems(FIXTURES / "apps_sample.jsonl")
    total, lines, two_sum = problems["APPS/4001"], problems["APPS/4002"], problems["APPS/4003"]
    assert total.mode == "stdio" and total.io_tests[1] == IOTest("10 -3\n", "7\n")
    assert total.visible_io_tests == (IOTest("1 2\n", "3\n"),)  # the statement's example
    assert lines.visible_io_tests == two_sum.visible_io_tests == ()
    assert lines.io_tests[0] == IOTest("a\nb\nc\n", "c\nb\na\n")  # list-of-lines cases joined
    assert two_sum.mode == "function" and two_sum.entry_point == "twoSum"
    assert "class Solution" in two_sum.prompt
    for problem in problems.values():
        assert reference_passes(sandbox, problem)


def test_codecontests_schema(sandbox):
    problems = load_problems(f"codecontests:{FIXTURES / 'codecontests_sample.jsonl'}")
    total = problems["CodeContests/1000_A. Sum of Two"]
    assert len(total.io_tests) == 4 and total.visible_io_tests == (IOTest("1 2\n", "3\n"),)
    for problem in problems.values():
        assert reference_passes(sandbox, problem)
    wrong = sandbox.run(StdioJob("print(0)", total.io_tests))
    assert not wrong.passed


def test_in_house_file_and_schema_detection(tmp_path):
    path = tmp_path / "mine.jsonl"
    record = {
        "task_id": "acme/one",
        "prompt": "def one():\n",
        "entry_point": "one",
        "tests": ["assert one() == 1"],
    }
    path.write_text(json.dumps(record) + "\n")
    assert list(load_problems(path)) == ["acme/one"]
    assert detect_schema(read_records(FIXTURES / "apps_sample.jsonl")[0]) == "apps"
    assert detect_schema(read_records(FIXTURES / "mbpp_sample.jsonl")[0]) == "mbpp"


@pytest.mark.parametrize(
    "spec,message",
    [
        ("nonesuch", "unknown problem set 'nonesuch'"),
        ("mbpp:/no/such/file.jsonl", "file not found"),
    ],
)
def test_bad_specs_are_one_clear_error(spec, message):
    with pytest.raises(DataError, match=message):
        load_problems(spec)


def test_hub_download_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"cannot download .* pass a local file"):
        load_problems("mbpp")


def test_mbpp_matches_the_ldb_prompts(shared_data):
    """LDB's MBPP pool was generated from HumanEval-style prompts; ours are the same text,
    except where LDB took a helper defined before the tested function as the entry point."""
    ldb = {
        r["task_id"]: r
        for r in read_records(shared_data / "ldb-raw" / "mbpp_dataset_probs.jsonl.gz")
    }
    ours = load_problems(shared_data / "mbpp" / "mbpp.jsonl.gz")
    same = [t for t, r in ldb.items() if ours[t].prompt == r["prompt"]]
    differ = sorted(set(ldb) - set(same), key=lambda t: int(t.split("/")[1]))
    assert len(same) == 481
    for task in differ:  # each difference is LDB prompting with a helper's signature
        assert ours[task].entry_point != ldb[task]["entry_point"]
        assert f"def {ldb[task]['entry_point']}" in ours[task].extra["reference"]
        assert ours[task].entry_point + "(" in ours[task].tests
