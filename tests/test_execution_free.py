"""Execution-free ranking: static defects last, sample counts added to the head's score."""

import math
import sys

import pytest
import torch

from ranker import Ranker, RankerConfig
from ranker.order import (
    DEFECT_PENALTY,
    behaviour_counts,
    execution_free_scores,
    served_scores,
    served_with_signals,
)
from ranker.signals.defects import entry_signature, static_defect, static_defects
from ranker.signals.types import ExecutionSignals, ProgramRun, Signals


def tiny(path, **overrides) -> Ranker:
    torch.manual_seed(0)
    config = RankerConfig(backbone=str(path), head_hidden=(16,), max_length=128, **overrides)
    return Ranker(config)


PROMPT = 'import math\n\n\ndef area(w: float, h: float) -> float:\n    """Area of a w x h box."""\n'


def test_entry_signature_from_the_prompt_or_the_given_name():
    assert entry_signature(PROMPT) == ("area", 2, True)  # annotated `-> float`
    helper_first = "def helper(x):\n    return x\n\n" + PROMPT
    assert entry_signature(helper_first) == ("area", 2, True)  # the last def is the one asked for
    assert entry_signature(helper_first, "helper") == ("helper", 1, False)
    # an MBPP-style description names no parameters; a bare description names nothing
    assert entry_signature("Write a function to add two numbers.", "add") == ("add", None, False)
    assert entry_signature("Write a function that returns the sum.", "add").returns_value
    assert entry_signature("Read two numbers and print their sum.") is None
    assert entry_signature("def f(a, /, b, *rest, c=1):\n") == ("f", 2, False)


def test_the_prompt_says_whether_the_function_returns_a_value():
    def returns(prompt: str) -> bool:
        signature = entry_signature(prompt)
        assert signature is not None
        return signature.returns_value

    assert returns("def f(x) -> int:\n    pass\n")
    assert returns('def f(x):\n    """Return x doubled."""\n')
    assert returns(
        'def f(x):\n    """The number of vowels x has.\n\n    Returns: an int\n    """\n'
    )
    assert not returns("def f(x) -> None:\n    pass\n")
    assert not returns('def f(path):\n    """Print the file at path."""\n')
    assert not returns('def f(path):\n    """Print the file; see returnable.py."""\n')


@pytest.mark.parametrize(
    ("body", "defect"),
    [
        ("    return w * h\n", None),
        ("    pass\n", "empty body"),
        ('    """Nothing yet."""\n    ...\n', "empty body"),
        ("    raise NotImplementedError\n", "empty body"),
        ("    # TODO\n    raise NotImplementedError('later')\n", "empty body"),
        ("    if w < 0:\n        raise ValueError('negative')\n    return w * h\n", None),
        # not empty, but the prompt's `-> float` is never returned
        ("    raise ValueError('negative')\n", "area() returns nothing"),
        ("    return w *\n", "does not parse"),
    ],
)
def test_static_defect_of_a_body(body, defect):
    assert static_defect(PROMPT + body, entry_signature(PROMPT)) == defect


def test_static_defect_of_the_signature():
    signature = entry_signature(PROMPT)
    assert static_defect("def box(w, h):\n    return w * h\n", signature) == "no function area()"
    assert static_defect("def area(w):\n    return w * w\n", signature) == (
        "area() takes 1 parameters, the prompt's 2"
    )
    assert static_defect("def area(*sides):\n    return sides[0]\n", signature) is None
    # a method or nested helper of that name counts; with no known signature only the
    # body is judged
    assert static_defect("class A:\n    def area(self, w, h):\n        return 1\n", None) is None
    assert static_defect("pass\n", None) == "empty body"
    assert static_defects(PROMPT, [PROMPT + "    return w * h\n", "x = ("]) == [
        None,
        "does not parse",
    ]


def test_a_function_using_a_name_nothing_defines_is_a_defect():
    signature = entry_signature("def total(xs: list[int]) -> int:\n")

    def defect(body: str, *before: str, defined=frozenset()):
        program = "".join(before) + "def total(xs: list[int]) -> int:\n" + body
        return static_defect(program, signature, defined)

    assert defect("    return sum(square(x) for x in xs)\n") == "name 'square' is not defined"
    assert defect("    return math.fsum(xs)\n") == "name 'math' is not defined"
    # defined by the program, a builtin, or elsewhere in the user's file
    assert defect("    return math.fsum(xs)\n", "import math\n\n") is None
    assert (
        defect("    return sum(square(x) for x in xs)\n", "def square(x):\n    return x * x\n")
        is None
    )
    assert defect("    return sum(square(x) for x in xs)\n", defined={"square"}) is None
    assert defect("    return int(sum(xs))\n") is None
    # locals, loop and comprehension variables, handlers, walrus and match captures
    body = (
        "    total = 0\n"
        "    for x in xs:\n"
        "        total += x\n"
        "    try:\n"
        "        pass\n"
        "    except ValueError as error:\n"
        "        raise error\n"
        "    if (n := len(xs)) > 1:\n"
        "        total += n\n"
        "    match xs:\n"
        "        case [first, *rest]:\n"
        "            total += first + len(rest)\n"
        "    return total + len([y for y in xs if y])\n"
    )
    assert defect(body) is None
    # not reported when it cannot be known: a star import, annotations, or no `defined`
    assert defect("    return square(xs)\n", "from helpers import *\n\n") is None
    assert defect("    values: Numbers = xs\n    return len(values)\n") is None
    assert defect("    return sum(square(x) for x in xs)\n", defined=None) is None
    # a name bound in any scope counts: only certain misses are reported
    assert defect("    return len(xs)\n", "for square in range(3):\n    pass\n") is None


@pytest.mark.skipif(sys.version_info < (3, 12), reason="type parameter syntax is Python 3.12+")
def test_type_parameters_are_defined_names():
    program = (
        "from typing import cast\n\ndef first[T](xs: list[T]) -> T:\n    return cast(T, xs[0])\n"
    )
    assert static_defect(program, entry_signature("def first(xs) -> object:\n")) is None


def test_a_function_that_never_returns_a_value_where_the_prompt_says_it_does():
    says = entry_signature('def total(xs):\n    """Return the sum of xs."""\n')
    silent = entry_signature('def total(xs):\n    """Print the sum of xs."""\n')

    def program(body: str) -> str:
        return "def total(xs):\n" + body

    assert static_defect(program("    print(sum(xs))\n"), says) == "total() returns nothing"
    assert static_defect(program("    print(sum(xs))\n    return None\n"), says) == (
        "total() returns nothing"
    )
    assert static_defect(program("    print(sum(xs))\n"), silent) is None
    assert static_defect(program("    if xs:\n        return sum(xs)\n"), says) is None
    assert static_defect(program("    yield from xs\n"), says) is None
    # the value may come from a helper the function defines and returns through
    assert (
        static_defect(program("    def inner():\n        return 1\n    return inner()\n"), says)
        is None
    )
    # but a body that only defines helpers returns nothing: their returns are their own
    helpers_only = "    def inner():\n        return 1\n    key = lambda x: -x\n"
    assert static_defect(program(helpers_only), says) == "total() returns nothing"
    in_class = "    class Box:\n        def get(self):\n            return xs\n"
    assert static_defect(program(in_class), says) == "total() returns nothing"


def test_scores_add_log_counts_to_z_scores_and_put_defects_last():
    scores = execution_free_scores([1.0, 2.0, 3.0], [1, 1, 1], [None, None, None])
    assert scores == pytest.approx([-math.sqrt(1.5), 0.0, math.sqrt(1.5)])
    # sampled often enough, a lower-scored answer overtakes a better-scored one
    lifted = execution_free_scores([1.0, 2.0, 3.0], [20, 1, 1], [None, None, None])
    assert lifted[0] > lifted[2]
    # a defect sinks the best text score and the largest count alike
    sunk = execution_free_scores([1.0, 2.0, 3.0], [1, 1, 50], [None, None, "empty body"])
    assert sunk[2] < min(sunk[:2]) - DEFECT_PENALTY / 2
    with pytest.raises(ValueError, match="3 scores, 2 counts"):
        execution_free_scores([1.0, 2.0, 3.0], [1, 1], [None, None, None])


def test_rank_without_execution_uses_counts_and_defects(tiny_encoder_dir):
    ranker = tiny(tiny_encoder_dir)
    problem = 'def add(a, b):\n    """Return the sum of a and b."""\n'
    programs = [
        problem + "    return a + b\n",
        problem + "    return a - b\n",
        problem + "    pass\n",
        "def add(a):\n    return a\n",
    ]
    head = ranker.score(problem, programs)
    plain = ranker.rank(problem, programs)
    assert {i for i, _ in plain[-2:]} == {2, 3}  # the defective two last, whatever the head says
    # an answer sampled far more often than the others comes first
    least = min((0, 1), key=lambda i: head[i])
    counts = [1, 1, 1, 1]
    counts[least] = 1000
    counted = ranker.rank(problem, programs, counts=counts)
    assert counted[0][0] == least


def test_served_scores_break_only_ties_by_defects_and_counts():
    head = [2.0, 2.0, 1.0, 2.0, 2.0]
    counts = [1, 3, 9, 50, 1]
    defects = [None, None, None, "name 'x' is not defined", None]
    served = served_scores(head, counts, defects, executed=True)
    # among the tied four: the more often sampled first, the defect last, equal ties stay
    # equal; the program that scored lower stays lower however often it was sampled
    assert sorted(range(5), key=lambda i: (-served[i], i)) == [1, 0, 4, 3, 2]
    assert served[0] == served[4]
    assert served == pytest.approx(head, abs=1e-5)
    # a body that does nothing is certain to fail: last, whatever the examples said
    defects[3] = "empty body"
    served = served_scores(head, counts, defects, executed=True)
    assert sorted(range(5), key=lambda i: (-served[i], i)) == [1, 0, 4, 2, 3]
    assert served_scores(head, counts, defects, executed=False) == (
        execution_free_scores(head, counts, defects)
    )


def test_rank_with_execution_breaks_ties_by_count(tiny_encoder_dir):
    ranker = tiny(tiny_encoder_dir, features=("execution",), text_with_execution=False)
    problem = 'def add(a, b):\n    """Return the sum of a and b."""\n'
    programs = [problem + "    return a + b\n", problem + "    return b + a\n"]
    runs = (ProgramRun(1, 0, 0, 0, ("3",)),) * 2
    signals = Signals(ExecutionSignals(1, runs, (0, 0), (1.0, 1.0)))
    head = ranker.score(problem, programs, signals)
    assert head[0] == head[1]  # same features, text unused where execution ran
    assert [i for i, _ in ranker.rank(problem, programs, signals=signals, counts=[1, 100])] == [
        1,
        0,
    ]
    assert [i for i, _ in ranker.rank(problem, programs, signals=signals, counts=[100, 1])] == [
        0,
        1,
    ]


def test_reviewer_scores_break_ties_or_replace_the_text_where_nothing_ran():
    head = [2.0, 2.0, 1.0]
    counts = [1, 1, 1]
    defects = [None, None, None]
    # the second program predicts the docstring better: it wins the tie, not the lower score
    served = served_scores(head, counts, defects, executed=True, reviewer=[-3.0, -1.0, 0.0])
    assert served[1] > served[0] > served[2]
    assert served == pytest.approx(head, abs=1e-5)
    # a count outweighs a one-sd reviewer difference only when it is large enough
    near = served_scores(head, [2, 1, 1], defects, executed=True, reviewer=[-1.1, -1.0, 0.0])
    assert near[0] > near[1]
    # without execution the reviewer takes the head's place: z(reviewer) + log(count)
    unran = served_scores(head, counts, defects, False, reviewer=[-3.0, -1.0, 0.0])
    assert unran == execution_free_scores([0.0, 0.0, 0.0], counts, defects, [-3.0, -1.0, 0.0])
    assert unran == pytest.approx([-1.336306, 0.267261, 1.069045], abs=1e-6)
    assert served_scores(head, [1, 1, 9], [None, None, "empty body"], False, [0.0, 1.0, 2.0]) == (
        pytest.approx([-1.224745, 0.0, 2.197225 + 1.224745 - DEFECT_PENALTY], abs=1e-5)
    )
    with pytest.raises(ValueError, match="2 reviewer scores for 3 programs"):
        served_scores(head, counts, defects, executed=True, reviewer=[0.0, 1.0])


def test_agreement_without_judged_examples_counts_behaviours_not_texts():
    head = [0.5, 0.0, 1.0, 0.2]
    counts = [1, 2, 1, 1]
    defects = [None, None, None, "empty body"]
    runs = (
        ProgramRun(0, 0, 0, 0, ("=6",)),
        ProgramRun(0, 0, 0, 0, ("=6",)),
        ProgramRun(0, 0, 0, 0, ("=5",)),
        ProgramRun(0, 0, 0, 0, ("=6",)),
    )
    unjudged = ExecutionSignals(0, runs, (0, 0, 1, 0), (0.8, 0.8, 0.2, 0.8))
    assert behaviour_counts(unjudged, counts) == pytest.approx([4, 4, 1, 4])
    served = served_with_signals(head, counts, defects, Signals(unjudged))
    assert served == pytest.approx(execution_free_scores(head, [4, 4, 1, 4], defects))
    # the best text, with a behaviour only it has, would come first by its text and sample
    # count; counted by behaviour, the best text of the agreeing answers goes ahead of it
    free = execution_free_scores(head, counts, defects)
    assert max(range(4), key=lambda i: free[i]) == 2
    assert sorted(range(4), key=lambda i: -served[i]) == [0, 2, 1, 3]
    # with reviewer scores, they take the text's place beside the behaviour counts
    likelihood = [(0.0, -2.0), (0.0, 0.0), (0.0, -1.0), (0.0, 0.0)]
    reviewed = served_with_signals(head, counts, defects, Signals(unjudged, likelihood))
    assert reviewed == pytest.approx(
        execution_free_scores([0.0] * 4, [4, 4, 1, 4], defects, [-2.0, 0.0, -1.0, 0.0])
    )
    assert sorted(range(4), key=lambda i: -reviewed[i]) == [1, 0, 2, 3]
    judged = ExecutionSignals(1, runs, (0, 0, 1, 0), (0.8, 0.8, 0.2, 0.8))
    # judged: the head decides; the defect (an empty body) puts that program last
    expected = [
        h - (DEFECT_PENALTY if d == "empty body" else 0.0)
        for h, d in zip(head, defects, strict=True)
    ]
    assert served_with_signals(head, counts, defects, Signals(judged)) == pytest.approx(
        expected, abs=1e-5
    )
    with pytest.raises(ValueError, match="for 4 programs, not 3"):
        behaviour_counts(unjudged, counts[:3])
