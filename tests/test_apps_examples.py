"""APPS statement examples as visible tests: the parser reads each layout APPS questions use
(hand-written here in the exact `question` layout, since nothing is downloaded), returns nothing
rather than a guess, and the loader gives stdin/stdout problems those examples while their
labels still come from `input_output` alone."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pool_eval import eval_answers

from ranker.sandbox import Limits, Sandbox, StdioJob
from train.loaders import load_problems
from train.loaders.statement_examples import NO_SECTION, UNPAIRED, statement_examples
from train.problems import IOTest

SPEC = (
    "Find the sum.\n\n\n-----Input-----\n\nThe first line contains $n$ ($1 \\le n \\le 100$).\n\n"
    "\n-----Output-----\n\nPrint one integer.\n\n\n"
)

CODEFORCES_ONE = SPEC + "-----Example-----\nInput\n3\n1 2 3\n\nOutput\n6\n"
CODEFORCES_SEVERAL = SPEC + (
    "-----Examples-----\nInput\n3\n1 2 3\n\nOutput\n6\n\nInput\n1\n-5\n\nOutput\n-5\n"
    "Input\n2\n0 0\nOutput\n0\n\n\n\n-----Note-----\n\nIn the first example the sum is 6.\n"
)
CODECHEF_EXAMPLE = SPEC + (
    "-----Example-----\nInput:\n2\n3\n1 2 3\n1\n7\n\nOutput:\n6\n7\n\n"
    "-----Explanation-----\nExample case 1. 1 + 2 + 3 = 6.\n"
)
KATTIS_EXAMPLES = SPEC + (
    "-----Examples-----\nSample Input 1:\n3\n1 2 3\nSample Output 1:\n6\n\n"
    "Sample Input 2:\n1\n4\nSample Output 2:\n4\n"
)
ATCODER_ONE = (
    "-----Constraints-----\n - 1 \\leq N \\leq 100\n\n-----Input-----\nInput is given from "
    "Standard Input in the following format:\nN\n\n-----Output-----\nPrint the answer.\n\n"
    "-----Sample Input-----\n5\n\n-----Sample Output-----\n3\n\n"
    "By printing the 1-st, 2-nd pages on the 1-st sheet, we need 3 sheets of paper.\n"
)
ATCODER_NUMBERED = (
    "-----Sample Input 1-----\n3 3\n1 7 11\n\n-----Sample Output 1-----\n2\n\n"
    "If (k,x)=(1,3),\n - a_0'=(a_1 XOR 3)=1\nand we have a' = b.\n\n"
    "-----Sample Input 2-----\n5 11\n10 12 19 20 21\n\n-----Sample Output 2-----\n6\n\n"
    "-----Sample Input 3-----\n3 5\n3 4 6\n\n-----Sample Output 3-----\n1\n"
)
CODECHEF_SAMPLE = (
    "-----Input:-----\n- First line will contain $T$.\n\n-----Output:-----\nFor each testcase, "
    "output the answer on a new line.\n\n-----Sample Input:-----\n2\n1 5\n\n2 2  \n\n"
    "-----Sample Output:-----\n5\n\n1\n\n-----EXPLANATION:-----\nIn first testcase, 5.\n"
)
LEETCODE_ONE = (
    "Given an array of integers nums, return its sum.\n\nExample 1:\nInput: nums = [1,2,3]\n"
    "Output: 6\n\nConstraints:\n\n1 <= nums.length <= 100\n"
)
LEETCODE_SEVERAL = (
    "Given an array of integers nums and an integer target, return indices of the two numbers "
    "such that they add up to target.\n\nExample 1:\nInput: nums = [2,7,11,15], target = 9\n"
    "Output: [0,1]\nExplanation: Because nums[0] + nums[1] == 9, we return [0, 1].\n\n"
    "Example 2:\nInput: nums = [3,2,4], target = 6\nOutput: [1,2]\n\nNote:\n\n2 <= nums.length\n"
)


@pytest.mark.parametrize(
    "question,expected",
    [
        (CODEFORCES_ONE, [("3\n1 2 3\n", "6\n")]),
        (CODEFORCES_SEVERAL, [("3\n1 2 3\n", "6\n"), ("1\n-5\n", "-5\n"), ("2\n0 0\n", "0\n")]),
        (CODECHEF_EXAMPLE, [("2\n3\n1 2 3\n1\n7\n", "6\n7\n")]),
        (KATTIS_EXAMPLES, [("3\n1 2 3\n", "6\n"), ("1\n4\n", "4\n")]),
        (ATCODER_ONE, [("5\n", "3\n")]),
        (
            ATCODER_NUMBERED,
            [("3 3\n1 7 11\n", "2\n"), ("5 11\n10 12 19 20 21\n", "6\n"), ("3 5\n3 4 6\n", "1\n")],
        ),
        (CODECHEF_SAMPLE, [("2\n1 5\n\n2 2\n", "5\n\n1\n")]),  # blank-separated answers stay
    ],
    ids=[
        "codeforces-one",
        "codeforces-several",
        "codechef-example",
        "kattis-several",
        "atcoder-one",
        "atcoder-numbered",
        "codechef-sample",
    ],
)
def test_each_stdio_layout_gives_its_examples_in_order(question, expected):
    found = statement_examples(question)
    assert found.missing is None
    assert found.tests == tuple(IOTest(i, o) for i, o in expected)
    assert all(test.input.endswith("\n") for test in found.tests)


def test_explanations_after_an_output_are_not_part_of_it():
    """AtCoder's explanation after a blank line, a ZCO `(Explanation: ...)`, and an
    `Explanation` line straight after the output all end it."""
    (first, *_) = statement_examples(ATCODER_NUMBERED).tests
    assert first.output == "2\n"
    zco = "-----Sample Input 1-----\n5 \n10 3 5\n\n-----Sample Output 1-----\n23\n\n(Explanation: 10+3+7+3)\n"
    assert statement_examples(zco).tests == (IOTest("5\n10 3 5\n", "23\n"),)
    tight = "-----Example-----\nInput:\n1\n3\nOutput:\n1 1 0\nExplanation\nTotal of 3 particles\n"
    assert statement_examples(tight).tests == (IOTest("1\n3\n", "1 1 0\n"),)


def test_data_that_looks_like_markup_stays_data():
    grid = "-----Sample Input-----\n2 6\n------\n.-.-.-\n\n-----Example Ouput-----\nNO\n"
    assert statement_examples(grid).tests == (IOTest("2 6\n------\n.-.-.-\n", "NO\n"),)


@pytest.mark.parametrize("question", [LEETCODE_ONE, LEETCODE_SEVERAL], ids=["one", "several"])
def test_leetcode_examples_are_not_stdin_examples(question):
    """Call-based problems' examples are argument lists: the loader never parses them, and
    the parser does not mistake them for stdin/stdout examples either."""
    assert statement_examples(question) == statement_examples("") == statement_examples(SPEC)
    assert statement_examples(question).missing == NO_SECTION


@pytest.mark.parametrize(
    "question",
    [
        "Print 42.",
        SPEC,  # `-----Input-----` / `-----Output-----` describe the format, they are no example
        SPEC + "-----Example-----\nFor n = 3 the answer is 6.\n",
        SPEC + "-----Note-----\nInput\n3\nOutput\n6\n",  # markers count only in an examples run
    ],
    ids=["plain", "format-only", "example-in-prose", "markers-outside-examples"],
)
def test_no_recognisable_example_section_gives_none(question):
    assert statement_examples(question).tests == ()
    assert statement_examples(question).missing == NO_SECTION


@pytest.mark.parametrize(
    "question",
    [
        SPEC + "-----Examples-----\nInput\n3\n1 2 3\n\nOutput\n6\n\nInput\n1\n-5\n",
        SPEC + "-----Examples-----\nInput\n3\n\nInput\n4\n\nOutput\n6\n\nOutput\n7\n",
        "-----Sample Input 1-----\n1\n\n-----Sample Input 2-----\n2\n\n-----Sample Output 1-----\n1\n",
        "-----Sample Input 1-----\n1\n\n-----Sample Output 2-----\n1\n",
        "-----Sample Output-----\n1\n\n-----Sample Input-----\n1\n",
        "-----Sample Input-----\n1\n\n-----Sample Output-----\n\n-----Explanation-----\n.\n",
        "-----Example-----\nInput:4\n5 6\nOutput:\n3\n",  # data on the marker line
    ],
    ids=[
        "output-missing",
        "out-of-order",
        "fewer-outputs",
        "numbers-differ",
        "output-first",
        "empty-output",
        "inline-input",
    ],
)
def test_inputs_and_outputs_that_do_not_pair_up_give_none(question):
    assert statement_examples(question).tests == ()
    assert statement_examples(question).missing == UNPAIRED


def _apps_record(
    problem_id: int, question: str, io: dict[str, Any], solution: str
) -> dict[str, Any]:
    return {
        "problem_id": problem_id,
        "question": question,
        "solutions": json.dumps([solution]),
        "input_output": json.dumps(io),
        "difficulty": "introductory",
        "url": f"https://example.invalid/{problem_id}",
        "starter_code": "",
    }


SUM = "input()\nprint(sum(map(int, input().split())))\n"
# hidden tests differ from the examples, so the labels cannot have come from the statement
HIDDEN = {"inputs": ["2\n5 6\n", "4\n1 1 1 1\n"], "outputs": ["11\n", "4\n"]}


@pytest.fixture
def apps_file(tmp_path: Path) -> Path:
    two_sum = (
        "class Solution:\n    def twoSum(self, nums, target):\n"
        "        return next([i, j] for i in range(len(nums)) for j in range(i + 1, len(nums))"
        " if nums[i] + nums[j] == target)\n"
    )
    records = [
        _apps_record(1, CODEFORCES_SEVERAL, HIDDEN, SUM),
        _apps_record(
            2,
            ATCODER_ONE,
            {"inputs": ["4\n"], "outputs": ["2\n"]},
            "print(-(-int(input()) // 2))\n",
        ),
        _apps_record(3, "Print the sum of the given numbers.", HIDDEN, SUM),
        _apps_record(
            4, SPEC + "-----Examples-----\nInput\n3\n1 2 3\n\nInput\n1\n-5\n", HIDDEN, SUM
        ),
        {
            **_apps_record(
                5,
                LEETCODE_SEVERAL,
                {"fn_name": "twoSum", "inputs": [[[1, 5, 9], 14]], "outputs": [[1, 2]]},
                two_sum,
            ),
            "starter_code": "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        ",
        },
    ]
    path = tmp_path / "apps.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_loader_fills_visible_io_tests_for_stdio_problems_only(apps_file, caplog):
    with caplog.at_level(logging.INFO, logger="train.loaders.contests"):
        problems = load_problems(f"apps:{apps_file}")
    several, atcoder, plain, unpaired, call = (problems[f"APPS/{n}"] for n in range(1, 6))
    assert several.visible_io_tests == (
        IOTest("3\n1 2 3\n", "6\n"),
        IOTest("1\n-5\n", "-5\n"),
        IOTest("2\n0 0\n", "0\n"),
    )
    assert several.io_tests == (IOTest("2\n5 6\n", "11\n"), IOTest("4\n1 1 1 1\n", "4\n"))
    assert atcoder.visible_io_tests == (IOTest("5\n", "3\n"),)
    assert atcoder.io_tests == (IOTest("4\n", "2\n"),)  # labels: input_output only
    assert plain.visible_io_tests == unpaired.visible_io_tests == ()
    assert plain.extra["examples_missing"] == NO_SECTION
    assert unpaired.extra["examples_missing"] == UNPAIRED and unpaired.io_tests == several.io_tests
    assert call.mode == "function" and call.visible_io_tests == () and call.visible_tests == ()
    assert "assert" in call.tests and "examples_missing" not in call.extra
    assert load_problems(apps_file) == problems  # detected schema, same problems
    (message,) = [r.getMessage() for r in caplog.records if r.name == "train.loaders.contests"]
    assert "for 2 of 4 stdin/stdout problems" in message
    assert f"none for 1 ({NO_SECTION})" in message and f"none for 1 ({UNPAIRED})" in message


def test_references_reproduce_the_parsed_examples(apps_file):
    """The parsed examples are the statement's own: each reference solution prints them."""
    problems = load_problems(f"apps:{apps_file}")
    with Sandbox(workers=2, limits=Limits(timeout=5.0, memory=1 << 30)) as sandbox:
        for problem in problems.values():
            if problem.visible_io_tests:
                job = StdioJob(problem.extra["reference"], problem.visible_io_tests)
                assert sandbox.run(job).passed, problem.task_id


def test_toppass_train_eval_runs_apps_statement_examples(tmp_path):
    """`eval` on an APPS-schema file runs the statement's example, as for CodeContests'
    public tests (visible runs are cached in the default cache, as in tests/test_train_cli.py)."""
    problems = tmp_path / "apps.jsonl"
    problems.write_text(json.dumps(_apps_record(7, CODEFORCES_SEVERAL, HIDDEN, SUM)) + "\n")
    answers = [
        {"code": "input()\nprint(max(map(int, input().split())))\n", "passed": False},
        {"code": "print(0)\n", "passed": False},
        {"code": SUM, "passed": True},  # last: storage order does not help it
    ]
    payload = eval_answers(f"apps:{problems}", tmp_path / "pool.jsonl", "APPS/7", answers)
    assert payload["settings"]["problems_with_visible_tests"] == 1
    assert payload["baselines"]["execution"]["pass@1"] == 1.0  # only the sum prints all three
