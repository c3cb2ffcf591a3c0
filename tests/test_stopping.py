"""Adaptive sampling: when the answers drawn so far settle the top of the list
(`ranker.order.StoppingRule`), and the pipeline that samples in its rounds."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from ranker.order import Evidence, StoppingRule
from ranker.signals.execution import signals_from_runs
from ranker.signals.types import EMPTY_BODY, ProgramRun
from ranker.source import function_at
from toppass_ls.pipeline import sample_rounds

RULE = StoppingRule()


def run(passed: int, cases: int = 3, signature: str | None = None) -> ProgramRun:
    """A program's run on `cases` judged examples; programs with the same `signature` behave
    alike (one behaviour cluster)."""
    sig = signature if signature is not None else f"passed {passed}"
    return ProgramRun(passed, cases - passed, 0, 0, (sig,))


def executed(
    runs: Sequence[ProgramRun], counts: Sequence[int], answers: int | None = None
) -> Evidence:
    cases = runs[0].cases if runs else 0
    return Evidence(
        answers if answers is not None else sum(counts),
        list(counts),
        signals_from_runs(cases, runs, counts),
        [None] * len(counts),
    )


def test_rounds_are_four_then_the_rest_and_never_exceed_the_maximum():
    assert RULE.rounds(16) == [4, 12]
    assert RULE.rounds(5) == [4, 1]
    assert RULE.rounds(4) == [4] and RULE.rounds(2) == [2] and RULE.rounds(0) == []
    assert sum(RULE.rounds(256)) == 256
    with pytest.raises(ValueError):
        StoppingRule(first_round=0)


def test_a_passing_majority_settles():
    # two programs that behave alike and pass every example: 3 of 4 answers
    evidence = executed([run(3, signature="a"), run(3, signature="a"), run(1)], [2, 1, 1])
    assert RULE.leading_share(evidence) == 0.75
    assert RULE.settled(evidence)


def test_a_split_does_not_settle():
    # two passing behaviours of two answers each: no majority, though all of them pass
    split = executed([run(3, signature="a"), run(3, signature="b")], [2, 2])
    assert RULE.leading_share(split) == 0.5 and not RULE.settled(split)


def test_a_failing_majority_does_not_settle():
    # every answer agrees, but on a behaviour that fails one example
    failing = executed([run(2, signature="a")], [4])
    assert RULE.leading_share(failing) == 0.0 and not RULE.settled(failing)
    # a passing program beside a failing majority
    assert not RULE.settled(executed([run(2), run(3)], [3, 1]))


def test_unusable_answers_count_against_the_majority():
    # 3 passing answers, but 3 more answers gave no program: 3 of 6 is no majority
    assert not RULE.settled(executed([run(3)], [3], answers=6))
    assert RULE.settled(executed([run(3)], [3], answers=4))


def test_too_few_answers_never_settle():
    assert not RULE.settled(executed([run(3)], [2]))
    assert not RULE.settled(Evidence(0, []))


def test_without_execution_only_a_larger_majority_of_one_program_settles():
    assert not RULE.settled(Evidence(4, [3, 1]))  # 3 of 4 would do with passing examples
    assert RULE.settled(Evidence(4, [4]))
    assert RULE.settled(Evidence(16, [13, 3]))
    assert not RULE.settled(Evidence(16, [12, 4]))
    # a program that cannot work never settles it, however often it was sampled
    assert not RULE.settled(Evidence(4, [4], defects=[EMPTY_BODY]))


def test_execution_that_judged_nothing_counts_as_none():
    # inputs built from the parameter types: the runs agree, but nothing says they are right
    runs = [ProgramRun(0, 0, 0, 0, ("x",)), ProgramRun(0, 0, 0, 0, ("x",))]
    agreement = Evidence(4, [3, 1], signals_from_runs(0, runs, [3, 1]), [None, None])
    assert not RULE.settled(agreement)
    assert RULE.settled(Evidence(4, [4], signals_from_runs(0, runs[:1], [4]), [None]))


SOURCE = '''def unique_sorted(xs: list[int]) -> list[int]:
    """Return the distinct elements of xs in increasing order.

    >>> unique_sorted([3, 1, 3])
    [1, 3]
    >>> unique_sorted([])
    []
    """
    raise NotImplementedError
'''
RIGHT = "    return sorted(set(xs))\n"
ALSO_RIGHT = "    out = []\n    for x in sorted(xs):\n        if x not in out:\n            out.append(x)\n    return out\n"
WRONG = "    return sorted(xs)\n"


class ScriptedProvider:
    """Hands out its answers in order, remembering how many each call asked for."""

    def __init__(self, answers: Sequence[str], block_after: int | None = None) -> None:
        self.answers = list(answers)
        self.asked: list[int] = []
        self.block_after = block_after  # calls after this many never return (until cancelled)

    async def sample(
        self, prompt: Any, n: int, *, on_progress: Any = None, on_answers: Any = None
    ) -> list[str]:
        if self.block_after is not None and len(self.asked) >= self.block_after:
            self.asked.append(n)
            await asyncio.Event().wait()
        start = sum(self.asked)
        self.asked.append(n)
        out = self.answers[start : start + n]
        if on_progress is not None:
            on_progress(0, n)
            on_progress(len(out), n)
        return out

    async def aclose(self) -> None:
        return None


def ctx() -> Any:
    found = function_at(SOURCE, 2)
    assert found is not None
    return found


async def test_rounds_stop_once_settled_and_say_so():
    reports: list[str] = []
    provider = ScriptedProvider([RIGHT] * 4 + [WRONG] * 12)
    raws = await sample_rounds(ctx(), provider, 16, lambda m, _p: reports.append(m), RULE)
    assert provider.asked == [4] and len(raws) == 4
    assert reports == ["sampling 0/16", "sampling 4/16", "settled: 4 of 16 sampled"]


async def test_rounds_go_on_to_the_maximum_when_not_settled():
    reports: list[str] = []
    provider = ScriptedProvider([RIGHT, WRONG, RIGHT, WRONG] * 4)
    raws = await sample_rounds(ctx(), provider, 16, lambda m, _p: reports.append(m), RULE)
    assert provider.asked == [4, 12] and len(raws) == 16
    assert reports[-1] == "sampling 16/16" and not any("settled" in m for m in reports)


async def test_without_the_rule_every_answer_is_asked_for_at_once():
    provider = ScriptedProvider([RIGHT] * 16)
    raws = await sample_rounds(ctx(), provider, 16, lambda *_: None, None)
    assert provider.asked == [16] and len(raws) == 16


async def test_passing_examples_settle_what_identical_text_would_not(runner):
    # three answers of one passing behaviour written two ways, one wrong: no program holds
    # over 3/4 of the answers, but the passing behaviour holds a majority
    answers = [RIGHT, ALSO_RIGHT, RIGHT, WRONG] + [WRONG] * 12
    blind = ScriptedProvider(answers)
    await sample_rounds(ctx(), blind, 16, lambda *_: None, RULE)
    assert blind.asked == [4, 12]
    run = ScriptedProvider(answers)
    await sample_rounds(ctx(), run, 16, lambda *_: None, RULE, runner)
    assert run.asked == [4]
    # a failing majority, examples run: sampled to the maximum
    failing = ScriptedProvider([WRONG, WRONG, WRONG, RIGHT] * 4)
    await sample_rounds(ctx(), failing, 16, lambda *_: None, RULE, runner)
    assert failing.asked == [4, 12]


async def test_cancelling_between_rounds_stops_the_sampling():
    provider = ScriptedProvider([RIGHT, WRONG] * 8, block_after=1)
    task = asyncio.ensure_future(sample_rounds(ctx(), provider, 16, lambda *_: None, RULE))
    while len(provider.asked) < 2:  # the second round has been asked for, and hangs
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert provider.asked == [4, 12]


class BatchedProvider(ScriptedProvider):
    """Like the local model: one request's answers come out of one batch, each handed out
    (`on_answers`) as it ends; cancelling stops the batch."""

    samples_together = True

    def __init__(self, answers: Sequence[str]) -> None:
        super().__init__(answers)
        self.handed: list[str] = []

    async def sample(
        self, prompt: Any, n: int, *, on_progress: Any = None, on_answers: Any = None
    ) -> list[str]:
        self.asked.append(n)
        for answer in self.answers[:n]:
            await asyncio.sleep(0.01)  # a decoding step; cancellation lands here
            self.handed.append(answer)
            if on_answers is not None:
                on_answers([answer])
        return self.answers[:n]


async def test_a_batched_provider_is_asked_once_and_stopped_when_settled():
    reports: list[str] = []
    provider = BatchedProvider([RIGHT] * 4 + [WRONG] * 12)
    raws = await sample_rounds(ctx(), provider, 16, lambda m, _p: reports.append(m), RULE)
    assert provider.asked == [16]  # one batch, not a batch of 4 and then one of 12
    assert 4 <= len(raws) < 16 and raws == provider.handed[: len(raws)]
    assert len(provider.handed) < 16  # the batch was stopped
    assert reports[-1] == f"settled: {len(raws)} of 16 sampled"


async def test_a_batched_provider_that_does_not_settle_gives_every_answer_of_one_batch():
    streamed: list[str] = []
    provider = BatchedProvider([RIGHT, WRONG, RIGHT, WRONG] * 4)
    raws = await sample_rounds(
        ctx(), provider, 16, lambda *_: None, RULE, on_answers=streamed.extend
    )
    assert provider.asked == [16] and len(raws) == 16 and streamed == raws
