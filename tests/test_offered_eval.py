"""`toppass-train eval` measures the order the editor offers (`train.evaluate.offered_labels`,
`evaluate_orders`): the problem's prompt as the user's file, answers merged by the body they
give, defects judged on the body as applied, examples run on it."""

from __future__ import annotations

import pytest

from train.evaluate import evaluate_orders, offered_labels
from train.problems import Problem
from train.slates import Slate

PROMPT = (
    'def uniq(xs):\n    """Sorted unique values.\n\n    >>> uniq([3, 1, 3])\n    [1, 3]\n    """\n'
)
RIGHT = "def uniq(xs):\n    return sorted(set(xs))\n"
RIGHT_WITH_UNUSED_HELPER = (
    "def unused():\n    return 0\n\n\ndef uniq(xs):\n    return sorted(set(xs))\n"
)
WRONG = "def uniq(xs):\n    return list(xs)\n"
EMPTY = "def uniq(xs):\n    pass\n"


def slate(programs: tuple[str, ...], labels: tuple[bool, ...], counts: tuple[int, ...]) -> Slate:
    return Slate("toy/uniq", PROMPT, programs, labels, counts)


PROBLEMS = {"toy/uniq": Problem("toy/uniq", PROMPT, "uniq")}


def test_fixed_orders_score_what_the_user_sees_first() -> None:
    slates = [
        slate((WRONG, RIGHT), (False, True), (1, 1)),
        slate((RIGHT,), (True,), (2,)),
        slate((WRONG,), (False,), (1,)),
    ]
    result = evaluate_orders("offered", slates, [[False, True], [True], None], bootstrap=0)
    assert result.problems == 2  # None: left out
    assert result.ranked[1] == 0.5 and result.ranked[2] == 1.0
    assert result.random[1] == pytest.approx((0.5 + 1.0) / 2)
    assert result.oracle == 1.0
    with pytest.raises(ValueError, match="no problems"):
        evaluate_orders("offered", slates[:1], [None])


def test_answers_giving_the_same_body_are_one_offer_and_defects_go_last(execution_ranker) -> None:
    programs = (EMPTY, RIGHT_WITH_UNUSED_HELPER, WRONG, RIGHT)
    labels = (False, True, False, True)
    (offered,) = offered_labels(execution_ranker, [slate(programs, labels, (3, 1, 1, 1))], PROBLEMS)
    # the unused helper is not carried: both right programs give one body, offered once
    assert offered is not None and len(offered) == 3
    assert offered[-1] is False  # the empty body, sampled most, has a static defect: last


def test_with_examples_run_the_passing_body_comes_first(execution_ranker, runner) -> None:
    programs = (WRONG, EMPTY, RIGHT)
    (offered,) = offered_labels(
        execution_ranker, [slate(programs, (False, False, True), (4, 2, 1))], PROBLEMS, runner
    )
    assert offered == [True, False, False]


def test_a_problem_without_a_function_is_not_offered(execution_ranker) -> None:
    stdio = Problem("toy/io", "Read two numbers and print their sum.")
    answer = Slate(
        "toy/io", stdio.prompt, ("print(sum(map(int, input().split())))",), (True,), (1,)
    )
    assert offered_labels(execution_ranker, [answer], {"toy/io": stdio}) == [None]
