"""reviewerTieBreak: the server's pipeline scores each distinct program with the reviewer
likelihood (a tiny random GPT-2 stands in for SmolLM2). Where the docstring's examples ran it
goes with the execution signals, so that programs the execution features cannot tell apart are
ordered by it; where nothing ran it takes the place of the ranker's text score; off, nothing
loads; a model that fails is noted, never fatal."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from scenario import RIGHT, RIGHT_TOO, WRONG, Answers, context, pass_fraction_ranker

from ranker import Ranker
from ranker.offer import REVIEWER_OFF, RankingCancelled, rank_candidates
from ranker.order import diverse_order, order_by_score, served_scores
from ranker.signals.defects import static_defects
from ranker.signals.likelihood import LikelihoodScorer, ScoredText, reviewer_text
from ranker.signals.types import Signals
from ranker.source import FunctionContext
from toppass_ls.pipeline import generate
from toppass_ls.server import ToppassServer


@pytest.fixture(scope="module")
def scorer(tiny_decoder_dir: Path) -> LikelihoodScorer:
    return LikelihoodScorer(model_reference=str(tiny_decoder_dir))


class Recorded:
    """The programs and `signals` each `ranker.rank` call got."""

    def __init__(self, ranker: Ranker, monkeypatch: pytest.MonkeyPatch) -> None:
        self.programs: list[list[str]] = []
        self.signals: list[Signals | None] = []
        rank = ranker.rank

        def recording(problem: str, candidates: Sequence[str], **kwargs: Any) -> Any:
            self.programs.append(list(candidates))
            self.signals.append(kwargs.get("signals"))
            return rank(problem, candidates, **kwargs)

        monkeypatch.setattr(ranker, "rank", recording)


class CountingScorer(LikelihoodScorer):
    """Counts the times the model is needed (every load and every scoring goes through
    `_ensure_loaded`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loads = 0

    def _ensure_loaded(self) -> None:
        self.loads += 1
        super()._ensure_loaded()


def reviewer_scores(
    scorer: LikelihoodScorer, programs: Sequence[str], ctx: FunctionContext | None = None
) -> list[float]:
    ctx = ctx or context()
    texts = [reviewer_text(ctx.prompt, ctx.name, program) for program in programs]
    return [mean for mean, _tokens in scorer.score_texts(texts)]


def body(raw: str) -> str:
    return raw.strip() + "\n"


def test_reviewer_scores_go_with_the_execution_signals(
    execution_ranker, runner, scorer, monkeypatch
):
    recorded = Recorded(execution_ranker, monkeypatch)
    raws = [WRONG, RIGHT, RIGHT_TOO]
    result = rank_candidates(execution_ranker, context(), raws, runner, reviewer=scorer)
    assert result.execution == "ran 3 candidates on 2 docstring examples"
    assert result.reviewer.startswith("reviewer tie-break: scored 3 candidates in ")
    ((programs,), (signals,)) = recorded.programs, recorded.signals
    assert signals is not None and signals.execution is not None
    # the ranker has no likelihood group: the coder score is not computed (0.0, unused)
    assert signals.likelihood is not None
    assert [coder for coder, _ in signals.likelihood] == [0.0, 0.0, 0.0]
    reviewer = [r for _, r in signals.likelihood]
    assert reviewer == pytest.approx(reviewer_scores(scorer, programs))
    # off: the same execution signals, no likelihood
    off = rank_candidates(execution_ranker, context(), raws, runner)
    assert off.reviewer == REVIEWER_OFF
    assert recorded.signals[-1] is not None and recorded.signals[-1].likelihood is None


def test_the_reviewer_breaks_the_tie_exactly_as_served_scores_does(
    execution_ranker, runner, scorer, monkeypatch
):
    ctx = context()
    recorded = Recorded(execution_ranker, monkeypatch)
    rank_candidates(execution_ranker, ctx, [WRONG, RIGHT, RIGHT_TOO], runner, reviewer=scorer)
    _, r_right, r_right_too = reviewer_scores(scorer, recorded.programs[0])
    assert r_right != r_right_too
    # the right body the reviewer likes less goes first: it wins the tie without the reviewer
    # (equal head scores, equal counts: the lower index first), the other one with it
    liked, disliked = (RIGHT, RIGHT_TOO) if r_right > r_right_too else (RIGHT_TOO, RIGHT)
    raws = [WRONG, disliked, liked]
    before = rank_candidates(execution_ranker, ctx, raws, runner)
    after = rank_candidates(execution_ranker, ctx, raws, runner, reviewer=scorer)
    assert [c.body for c in before.candidates] == [body(disliked), body(liked), body(WRONG)]
    assert [c.body for c in after.candidates] == [body(liked), body(disliked), body(WRONG)]
    # exactly served_scores' order and scores with the head's scores and those reviewer values
    programs, signals = recorded.programs[-1], recorded.signals[-1]
    assert signals is not None and signals.execution is not None
    served = served_scores(
        execution_ranker.score(ctx.prompt, programs, signals),
        [1, 1, 1],
        static_defects(ctx.prompt, programs, ctx.name, ctx.names_outside),
        executed=True,
        reviewer=reviewer_scores(scorer, programs),
    )
    order = diverse_order(
        order_by_score(served), signals.execution.clusters, signals.execution.tiers
    )
    assert [c.program for c in after.candidates] == [programs[i] for i in order]
    assert [c.raw_score for c in after.candidates] == pytest.approx(
        [served[i] for i in order], abs=1e-9
    )


def test_a_ranker_with_the_likelihood_group_gets_coder_and_reviewer(
    tiny_encoder_dir, runner, scorer, monkeypatch
):
    ranker = pass_fraction_ranker(tiny_encoder_dir, ("execution", "likelihood"))
    recorded = Recorded(ranker, monkeypatch)
    result = rank_candidates(ranker, context(), [WRONG, RIGHT], runner, reviewer=scorer)
    ((programs,), (signals,)) = recorded.programs, recorded.signals
    assert signals is not None
    expected = scorer.score(context().prompt, "unique_sorted", programs)
    assert signals.likelihood is not None
    assert [c for c, _ in signals.likelihood] == pytest.approx([s.coder for s in expected])
    assert [r for _, r in signals.likelihood] == pytest.approx([s.reviewer for s in expected])
    assert all(coder != 0.0 for coder, _ in signals.likelihood)
    assert result.candidates[0].body == body(RIGHT)  # execution still decides


async def test_where_nothing_ran_the_reviewer_takes_the_place_of_the_text(
    execution_ranker, runner, scorer, monkeypatch
):
    recorded = Recorded(execution_ranker, monkeypatch)

    async def get_ranker() -> Ranker:
        return execution_ranker

    def ignore(message: str, percent: int | None) -> None:
        return None

    answers = Answers([RIGHT, WRONG])
    for ctx, examples in ((context(), None), (context(15), runner)):
        # allowExecution off, then a function with no examples and no types: nothing runs
        result = await generate(ctx, answers, get_ranker, 2, ignore, examples, scorer)
        assert result.reviewer.startswith("reviewer order (nothing judged): scored 2 candidates")
        programs, signals = recorded.programs[-1], recorded.signals[-1]
        assert signals is not None and signals.execution is None
        assert signals.likelihood is not None
        reviewer = [r for _, r in signals.likelihood]
        assert reviewer == pytest.approx(reviewer_scores(scorer, programs, ctx), abs=1e-4)
        assert reviewer[0] != reviewer[1]
        # equal counts, no defects: the program the reviewer prefers first, whatever the head
        liked = programs[reviewer.index(max(reviewer))]
        assert result.candidates[0].program == liked
        served = served_scores(
            execution_ranker.score(ctx.prompt, programs, signals),
            [1, 1],
            static_defects(ctx.prompt, programs, ctx.name, ctx.names_outside),
            executed=False,
            reviewer=reviewer,
        )
        assert [c.raw_score for c in result.candidates] == pytest.approx(
            sorted(served, reverse=True), abs=1e-9
        )


async def test_generate_loads_the_model_and_breaks_ties(execution_ranker, runner, tiny_decoder_dir):
    counting = CountingScorer(model_reference=str(tiny_decoder_dir))

    async def get_ranker() -> Ranker:
        return execution_ranker

    messages: list[str] = []

    def report(message: str, percent: int | None) -> None:
        messages.append(message)

    result = await generate(
        context(), Answers([RIGHT, WRONG, RIGHT_TOO]), get_ranker, 3, report, runner, counting
    )
    assert result.reviewer.startswith("reviewer tie-break: scored 3 candidates")
    assert counting.loads >= 1 and counting.load_seconds > 0
    assert "running examples, reviewer scores, ranking" in messages


def test_the_server_holds_a_scorer_only_while_the_setting_is_on():
    server = ToppassServer()
    assert server.reviewer_scorer() is None
    server.update_settings({"toppass": {"allowExecution": True, "reviewerTieBreak": True}})
    scorer = server.reviewer_scorer()
    assert scorer is not None and server.reviewer_scorer() is scorer
    assert scorer.model_reference is None  # the bundled SmolLM2-135M, not the sampling model
    assert scorer.load_seconds == 0.0  # created, not loaded: generate loads it when needed
    server.update_settings({"reviewerTieBreak": False})
    assert server.reviewer_scorer() is None
    server.update_settings({"reviewerTieBreak": True})
    assert server.reviewer_scorer() is not scorer  # a new one: the old model was dropped


class FailingScorer(LikelihoodScorer):
    def score_texts(self, texts: Sequence[ScoredText]) -> list[tuple[float, int]]:
        raise RuntimeError("out of memory")


@pytest.mark.parametrize(
    ("make", "note"),
    [
        (
            lambda tmp: LikelihoodScorer(model_reference=str(tmp / "missing")),
            "reviewer tie-break failed (LocalModelError: local model not found: {tmp}/missing); "
            "ranked without it",
        ),
        (
            lambda tmp: FailingScorer(model_reference=str(tmp)),
            "reviewer tie-break failed (RuntimeError: out of memory); ranked without it",
        ),
    ],
)
def test_a_failing_scorer_ranks_without_it_and_says_so(
    execution_ranker, runner, tmp_path, make, note
):
    raws = [WRONG, RIGHT, RIGHT_TOO]
    result = rank_candidates(execution_ranker, context(), raws, runner, reviewer=make(tmp_path))
    assert result.reviewer == note.format(tmp=tmp_path)
    without = rank_candidates(execution_ranker, context(), raws, runner)
    assert [(c.body, c.raw_score) for c in result.candidates] == [
        (c.body, c.raw_score) for c in without.candidates
    ]


class StoppingScorer(LikelihoodScorer):
    """Sets the request's stop flag while it scores (the user cancels meanwhile)."""

    def __init__(self, stop: threading.Event, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop = stop

    def score_texts(self, texts: Sequence[ScoredText]) -> list[tuple[float, int]]:
        self.stop.set()
        return super().score_texts(texts)


def test_cancelled_while_scoring_means_no_ranking(
    execution_ranker, runner, tiny_decoder_dir, monkeypatch
):
    recorded = Recorded(execution_ranker, monkeypatch)
    stop = threading.Event()
    scorer = StoppingScorer(stop, model_reference=str(tiny_decoder_dir))
    with pytest.raises(RankingCancelled):
        rank_candidates(execution_ranker, context(), [RIGHT, WRONG], runner, stop, scorer)
    assert recorded.signals == []
