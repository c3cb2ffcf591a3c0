"""allowExecution: the server's pipeline runs candidates on the docstring's examples in the
sandbox and ranks with those signals (ranker with and without execution features), and skips
execution, ranking as before, where it cannot or must not run."""

from __future__ import annotations

import asyncio
import math
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from procs import own_sandbox_workers
from scenario import RAISES, RIGHT, RIGHT_TOO, SOURCE, WRONG, Answers, context

from ranker import Ranker, RankerConfig
from ranker.offer import RankingCancelled, rank_candidates
from ranker.order import execution_free_scores
from ranker.signals.examples_run import ExampleRunner, visible_tests
from ranker.source import function_at
from toppass_ls.edits import candidate_titles
from toppass_ls.pipeline import generate

RAWS = [WRONG, RIGHT, RAISES, RIGHT, RIGHT_TOO]
EXPECTED_EXAMPLES = {
    "return sorted(set(xs))\n": "2/2 examples",
    "return sorted({*xs})\n": "2/2 examples",
    "return sorted(xs)\n": "1/2 examples",
    "return xs[0] + None\n": "0/2 examples",
}


@pytest.fixture(scope="module")
def plain_ranker(tiny_encoder_dir: Path) -> Ranker:
    """No feature groups: the score ignores execution (the shipped default so far)."""
    torch.manual_seed(0)
    return Ranker(RankerConfig(backbone=str(tiny_encoder_dir), head_hidden=(8,), max_length=128))


def test_visible_tests_read_the_docstring_and_say_why_not():
    tests, reason = visible_tests(context(3))
    assert reason is None
    assert tests == [
        "assert unique_sorted([3, 1, 3, 2]) == [1, 2, 3]",
        "assert unique_sorted([]) == []",
    ]
    assert visible_tests(context(15)) == ([], "no examples found in the docstring of no_examples()")
    assert visible_tests(context(21))[1] == "spread() is a method (its examples need an instance)"
    assert visible_tests(context(29))[1] == "fetch() is async (its examples give coroutines)"


RENAMED = """\
from math import floor as scale_of


def grade_of(points):
    return points


def letter_grade(gpa):
    \"\"\"old_letter_grade(3.5) == 'A-'\"\"\"


def letter_for(points):
    \"\"\"grade_of(90) == 'A'; scale_of(90) == 1\"\"\"


def broken(:
    pass


def grade_later(gpa):
    \"\"\"grade_of(3.5) == 'A-'\"\"\"
"""


def test_examples_under_an_old_name_run_but_other_functions_in_the_document_do_not(
    plain_ranker, runner
):
    parsable = RENAMED.replace("def broken(:", "def broken():")
    lines = parsable.splitlines()
    ctx = function_at(parsable, lines.index("def letter_grade(gpa):"))
    assert ctx is not None and {"grade_of", "scale_of", "letter_for"} <= ctx.document_names
    assert visible_tests(ctx) == (["assert letter_grade(3.5) == 'A-'"], None)
    bodies = ["    return 'A-' if gpa > 3.3 else 'B'\n", "    return 'A'\n"]
    result = rank_candidates(plain_ranker, ctx, bodies, runner)
    assert result.execution == (
        "ran 2 candidates on 1 docstring example (written as old_letter_grade())"
    )
    assert {c.body: c.examples for c in result.candidates} == {
        "return 'A-' if gpa > 3.3 else 'B'\n": "1/1 examples",
        "return 'A'\n": "0/1 examples",
    }
    # `grade_of` is defined above and `scale_of` imported, though neither is in the prompt
    other = function_at(parsable, lines.index("def letter_for(points):"))
    assert other is not None and "def grade_of" not in other.prompt
    assert visible_tests(other) == ([], "no examples found in the docstring of letter_for()")
    # a document that does not parse: the names its `def`, `class` and import lines give
    unparsable = function_at(RENAMED, len(lines) - 1)
    assert unparsable is not None and unparsable.name == "grade_later"
    assert {"grade_of", "scale_of"} <= unparsable.document_names
    assert visible_tests(unparsable) == ([], "no examples found in the docstring of grade_later()")


def test_featureless_ranker_gets_titles_and_the_diverse_order(plain_ranker, runner):
    result = rank_candidates(plain_ranker, context(3), RAWS, runner)
    assert result.execution == "ran 4 candidates on 2 docstring examples"
    assert result.examples == 2
    assert {c.body: c.examples for c in result.candidates} == EXPECTED_EXAMPLES
    for candidate, title in zip(
        result.candidates, candidate_titles(result.candidates), strict=True
    ):
        # the examples decide the order: the title says how the candidate did on them first
        duplicates = ", x2" if candidate.count == 2 else ""
        assert title.startswith(
            f"toppass #{candidate.rank} ({candidate.examples}, {candidate.score:.2f}{duplicates}"
        )
    # The score ignores execution, so which right program comes first is the ranker's call;
    # what execution guarantees is one candidate per behaviour before any repeat: the two
    # right bodies behave the same, so they are never both in the top 3.
    top3 = [c.body for c in result.candidates[:3]]
    assert len({EXPECTED_EXAMPLES[body] for body in top3}) == 3
    # with the examples run the scores are the head's own (a tie-break aside); without them,
    # the execution-free order: the head's score z-scored, plus the log of the sample count
    programs = {c.body: c.program for c in result.candidates}
    bodies = list(programs)
    head = plain_ranker.score(context(3).prompt, [programs[b] for b in bodies])
    assert {c.body: c.raw_score for c in result.candidates} == pytest.approx(
        dict(zip(bodies, head, strict=True)), abs=1e-5
    )
    unranked = rank_candidates(plain_ranker, context(3), RAWS)
    counts = {c.body: c.count for c in unranked.candidates}
    free = execution_free_scores(head, [counts[b] for b in bodies], [None] * len(bodies))
    assert {c.body: c.raw_score for c in unranked.candidates} == pytest.approx(
        dict(zip(bodies, free, strict=True))
    )


def test_ranker_with_execution_features_puts_the_right_program_first(execution_ranker, runner):
    result = rank_candidates(execution_ranker, context(3), RAWS, runner)
    ranked = [(c.body, c.examples) for c in result.candidates]
    assert ranked[0][1] == "2/2 examples"
    # diverse, but never at the price of examples: the other right body comes before the
    # programs that fail an example, whatever its behaviour cluster
    assert [examples for _, examples in ranked] == [
        "2/2 examples",
        "2/2 examples",
        "1/2 examples",
        "0/2 examples",
    ]
    scores = [c.raw_score for c in result.candidates]
    assert scores[0] == pytest.approx(scores[1], abs=1e-5)  # the head reads the pass fraction
    assert scores[1] > scores[2] > scores[3]
    assert result.candidates[0].count == 2  # the tie goes to the answer sampled twice
    # without execution the same ranker sees no signal at all: only the counts order them
    without = rank_candidates(execution_ranker, context(3), RAWS)
    assert [c.raw_score for c in without.candidates] == pytest.approx(
        [math.log(c.count) for c in without.candidates]
    )
    assert without.candidates[0].count == 2
    assert all(c.examples is None for c in without.candidates)


def test_the_examples_run_on_the_body_as_applied(execution_ranker, runner):
    """What runs is what the edit applies: a body that needs the model's helper runs with the
    helper carried into it; one written for a parameter the model named otherwise, where it
    cannot be renamed (the user's name is a local of the model's), fails."""
    raws = [
        "```python\ndef _dedupe(xs):\n    return set(xs)\n\n"
        "def unique_sorted(xs):\n    return sorted(_dedupe(xs))\n```",
        "```python\ndef unique_sorted(lst):\n    xs = sorted(set(lst))\n    return xs\n```",
        "```python\ndef unique_sorted(lst):\n    return sorted(set(lst), reverse=False)\n```",
    ]
    result = rank_candidates(execution_ranker, context(3), raws, runner)
    by_body = {c.own_body: c for c in result.candidates}
    helped = by_body["return sorted(_dedupe(xs))\n"]
    assert helped.examples == "2/2 examples" and helped.carried == ("_dedupe",)
    assert helped.defect is None
    kept = by_body["xs = sorted(set(lst))\nreturn xs\n"]
    assert kept.examples == "0/2 examples"  # the model's own program would pass both
    assert kept.defect == "name 'lst' is not defined"
    assert result.candidates[-1] is kept  # the ranker reads the pass fraction
    renamed = by_body["return sorted(set(xs), reverse=False)\n"]
    assert renamed.examples == "2/2 examples" and renamed.defect is None


def test_setting_off_ranks_as_before(plain_ranker):
    result = rank_candidates(plain_ranker, context(3), RAWS, examples=None)
    assert result.execution == "examples not run: allowExecution is off"
    assert result.examples is None
    assert all(
        c.examples is None and "examples" not in title
        for c, title in zip(result.candidates, candidate_titles(result.candidates), strict=True)
    )
    assert candidate_titles(result.candidates)[0].startswith("toppass #1 (")
    assert [c.count for c in result.candidates if c.body == "return sorted(set(xs))\n"] == [2]


@pytest.mark.parametrize(
    ("line", "raws", "reason"),
    [
        (21, ["        return max(xs) - min(xs)\n"], "spread() is a method"),
        (
            15,
            ["    return list(xs)\n"],
            "no examples found in the docstring of no_examples(), and its parameters have no "
            "types to build inputs from",
        ),
        (29, ["    return xs\n"], "fetch() is async"),
    ],
)
def test_skipped_where_examples_cannot_run(plain_ranker, runner, line, raws, reason):
    result = rank_candidates(plain_ranker, context(line), raws, runner)
    assert result.execution.startswith("examples not run: " + reason)
    assert len(result.candidates) == 1 and result.candidates[0].examples is None
    assert "examples" not in candidate_titles(result.candidates)[0]


TYPED = (
    SOURCE
    + '''

def total(xs: list[int]) -> int:
    """The sum of xs."""
    raise NotImplementedError
'''
)


def test_no_examples_but_typed_parameters_run_for_agreement(plain_ranker, runner):
    ctx = function_at(TYPED, TYPED.count("\n") - 1)
    assert ctx is not None and ctx.name == "total"
    bodies = [
        "    return sum(xs)\n",
        "    return sum(xs)\n",
        "    n = 0\n    for x in xs:\n        n += x\n    return n\n",  # the same behaviour
        "    return max(xs)\n",  # another behaviour, sampled twice
        "    return max(xs)\n",
        "    return len(xs)\n",
    ]
    result = rank_candidates(plain_ranker, ctx, bodies, runner)
    assert result.execution == (
        "ran 4 candidates on 6 inputs built from the parameter types (agreement only)"
    )
    assert result.examples == 0  # nothing judged
    shown = {c.body: c.examples for c in result.candidates}
    assert shown == {
        "return sum(xs)\n": "agrees with 50%",
        "n = 0\nfor x in xs:\n    n += x\nreturn n\n": "agrees with 50%",
        "return max(xs)\n": "agrees with 33%",
        "return len(xs)\n": "agrees with 17%",
    }
    # ranked as without execution, with each program's behaviour count in place of its
    # sample count: the two bodies that compute sums hold 3 of the 6 answers
    programs = [c.program for c in result.candidates]
    head = plain_ranker.score(ctx.prompt, programs)
    behaviour = {"agrees with 50%": 3, "agrees with 33%": 2, "agrees with 17%": 1}
    expected = execution_free_scores(
        head, [behaviour[c.examples] for c in result.candidates], [None] * len(programs)
    )
    assert [c.raw_score for c in result.candidates] == pytest.approx(expected)
    titles = candidate_titles(result.candidates)
    assert all(
        title.startswith(f"toppass #{c.rank} ({c.examples}, ")
        for c, title in zip(result.candidates, titles, strict=True)
    )


def test_nothing_loads_in_the_sandbox_means_no_execution(plain_ranker, runner):
    source = SOURCE.replace("def unique_sorted", "@app.cached\ndef unique_sorted")
    ctx = function_at(source, 4)
    assert ctx is not None
    result = rank_candidates(plain_ranker, ctx, [RIGHT, WRONG], runner)
    assert result.execution == (
        "examples not run: no candidate loads in the sandbox "
        "(raised while loading: NameError: name 'app' is not defined)"
    )
    assert all(c.examples is None for c in result.candidates)


def test_a_failing_sandbox_never_fails_the_request(plain_ranker):
    broken = ExampleRunner(workers=1)
    broken.close()  # a closed runner refuses to run: the same path as a sandbox that fails
    result = rank_candidates(plain_ranker, context(3), RAWS, broken)
    assert result.execution.startswith("examples not run: the sandbox failed (RuntimeError")
    assert len(result.candidates) == 4 and all(c.examples is None for c in result.candidates)


def test_stop_set_means_no_ranking(plain_ranker, runner):
    stop = threading.Event()
    stop.set()
    with pytest.raises(RankingCancelled):
        rank_candidates(plain_ranker, context(3), RAWS, runner, stop)


async def test_cancelled_request_leaves_a_working_sandbox_and_close_leaves_nothing(plain_ranker):
    others = set(own_sandbox_workers())  # e.g. the module's runner
    examples = ExampleRunner(workers=2)
    loops = [f"    while True:\n        xs = xs or [{i}]\n" for i in range(4)]

    async def get_ranker() -> Ranker:
        return plain_ranker

    def ignore(message: str, percent: int | None) -> None:
        return None

    try:
        pending = asyncio.ensure_future(
            generate(context(3), Answers(loops), get_ranker, 4, ignore, examples)
        )
        await asyncio.sleep(1.0)  # the loops are running in the sandbox now
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        # the next request uses the same sandbox and gets its examples run
        result = await generate(context(3), Answers(RAWS), get_ranker, 5, ignore, examples)
        assert {c.body: c.examples for c in result.candidates} == EXPECTED_EXAMPLES
        assert set(own_sandbox_workers()) - others
    finally:
        await asyncio.to_thread(examples.close)
    assert set(own_sandbox_workers()) - others == set()


def test_methods_are_told_apart_with_and_without_a_syntax_tree():
    nested = (
        "class Stats:\n"
        "    def spread(self, xs):\n"
        "        def inner(ys):\n"
        "            return ys\n"
        "        return inner(xs)\n"
        "\n"
        "\n"
        "def top(xs):\n"
        "    return xs\n"
    )
    found = {line: function_at(nested, line) for line in (1, 3, 8)}
    assert {line: (c.qualname, c.in_class) for line, c in found.items() if c} == {
        1: ("Stats.spread", True),
        3: ("Stats.spread.<locals>.inner", False),
        8: ("top", False),
    }
    broken = nested + "\n\ndef typing_here(:\n"  # the module no longer parses
    fallback = {line: function_at(broken, line) for line in (1, 3, 8)}
    assert {line: c.in_class for line, c in fallback.items() if c} == {1: True, 3: False, 8: False}


# agrees with RIGHT on both examples and on every input derived from them (no 7 among them)
SEVEN_BLIND = "    return sorted(set(xs)) if 7 not in xs else []\n"


def test_inputs_the_model_proposed_split_candidates_the_examples_do_not(plain_ranker, runner):
    ctx = context(3)
    programs = [
        rank_candidates(plain_ranker, ctx, [b]).candidates[0].program for b in (RIGHT, SEVEN_BLIND)
    ]
    alone = runner.run(ctx, programs, [1, 1])
    assert alone.signals is not None and alone.signals.cases == 2
    assert len(set(alone.signals.clusters)) == 1  # the examples and derived inputs agree
    proposed = ["unique_sorted([7, 1, 7])", "unique_sorted([3, 1, 3, 2])"]  # the 2nd: an example
    run = runner.run(ctx, programs, [1, 1], proposed=proposed)
    assert run.note == "ran 2 candidates on 2 docstring examples and 1 input the model proposed"
    assert run.signals is not None and run.signals.cases == 2  # still judged on the examples only
    assert len(set(run.signals.clusters)) == 2
    assert [run.signals.summary(i) for i in range(2)] == ["2/2 examples", "2/2 examples"]
    result = rank_candidates(plain_ranker, ctx, [RIGHT, SEVEN_BLIND], runner, proposed=proposed)
    assert result.execution == run.note


def test_a_function_with_neither_examples_nor_types_runs_on_proposed_inputs(plain_ranker, runner):
    ctx = context(15)
    assert ctx.name == "no_examples"
    bodies = ["    return xs\n", "    return list(xs)\n", "    return xs[:1]\n"]
    skipped = rank_candidates(plain_ranker, ctx, bodies, runner)
    assert skipped.execution.endswith("and its parameters have no types to build inputs from")
    proposed = ["no_examples([1, 2])", "no_examples([])"]
    result = rank_candidates(plain_ranker, ctx, bodies, runner, proposed=proposed)
    assert result.execution == ("ran 3 candidates on 2 inputs the model proposed (agreement only)")
    assert result.examples == 0
    assert {c.body: c.examples for c in result.candidates} == {
        "return xs\n": "agrees with 67%",
        "return list(xs)\n": "agrees with 67%",
        "return xs[:1]\n": "agrees with 33%",
    }
    # a method still does not run, proposed inputs or not (its calls need an instance)
    method = context(SOURCE.splitlines().index("    def spread(self, xs):"))
    assert method.name == "spread"
    off = rank_candidates(
        plain_ranker,
        method,
        ["        return max(xs) - min(xs)\n"],
        runner,
        proposed=["spread([1, 5])"],
    )
    assert off.examples is None and "method" in off.execution


class ProposingModel(Answers):
    """Answers with fixed programs, and with `calls` when asked for test inputs (or fails
    then, when `calls` is an exception)."""

    def __init__(self, answers: list[str], calls: str | Exception) -> None:
        super().__init__(answers)
        self.calls = calls
        self.asked: list[int] = []

    async def sample(
        self, prompt: Any, n: int, *, on_progress: Any = None, on_answers: Any = None
    ) -> list[str]:
        if prompt.inputs:
            self.asked.append(prompt.inputs)
            if isinstance(self.calls, Exception):
                raise self.calls
            return [self.calls]
        return await super().sample(prompt, n)


async def test_generate_asks_for_inputs_only_when_set_and_survives_a_failed_request(
    plain_ranker, runner
):
    async def get_ranker() -> Ranker:
        return plain_ranker

    def ignore(message: str, percent: int | None) -> None:
        return None

    reply = "```python\nassert unique_sorted([7, 7]) == [7]\nunique_sorted(xs)\n```"
    model = ProposingModel([RIGHT, SEVEN_BLIND], reply)
    result = await generate(context(3), model, get_ranker, 2, ignore, runner, probe_inputs=4)
    assert model.asked == [4]
    assert result.execution.endswith("and 1 input the model proposed")
    # off by default, and never without execution
    for examples, probe_inputs in ((runner, 0), (None, 4)):
        quiet = ProposingModel([RIGHT, SEVEN_BLIND], reply)
        await generate(
            context(3), quiet, get_ranker, 2, ignore, examples, probe_inputs=probe_inputs
        )
        assert quiet.asked == []
    failing = ProposingModel([RIGHT, SEVEN_BLIND], RuntimeError("endpoint down"))
    result = await generate(context(3), failing, get_ranker, 2, ignore, runner, probe_inputs=4)
    assert failing.asked == [4]
    assert result.execution == "ran 2 candidates on 2 docstring examples"
    assert len(result.candidates) == 2
