"""The generator's own log-probabilities, as a pool records them: merged per program in the
slates, and the generator-likelihood baseline ordering (train.evaluate)."""

import pytest

from ranker.order import DEFECT_PENALTY
from train.evaluate import evaluate_scores, generator_likelihood_scores
from train.pools import Pool, PoolCandidate
from train.problems import Problem
from train.slates import build_slates

PROMPT = 'def double(x):\n    """Twice x."""\n'
PROBLEMS = {"t/1": Problem("t/1", PROMPT, "double"), "t/2": Problem("t/2", PROMPT, "double")}


def candidate(task: str, index: int, body: str, passed: bool, logprob: object) -> PoolCandidate:
    meta = {} if logprob is None else {"mean_logprob": logprob}
    return PoolCandidate(task, index, completion=body, passed=passed, meta=meta)


def test_logprobs_merge_per_program_and_order_the_baseline():
    pool = Pool(
        [
            candidate("t/1", 0, "    return x + x\n", True, -0.1),
            candidate("t/1", 1, "    return x * 3\n", False, -0.5),
            candidate("t/1", 2, "    return  x + x  # same program\n", True, -0.3),
            candidate("t/1", 3, "    pass\n", False, -0.01),  # likeliest, but does nothing
            candidate("t/1", 4, "    return x - x\n", False, None),  # none recorded
            candidate("t/2", 0, "    return x * 2\n", True, "high"),  # not a number: ignored
            candidate("t/2", 1, "    return x\n", False, None),
        ]
    )
    one, two = build_slates(pool, PROBLEMS).slates
    assert one.counts == (2, 1, 1, 1)
    assert one.logprobs == pytest.approx((-0.2, -0.5, -0.01, None))  # mean of -0.1 and -0.3
    assert two.logprobs == ()  # nothing usable recorded

    scores = generator_likelihood_scores([one, two], PROBLEMS)
    # the likeliest program does nothing: last; one without a log-probability counts as the
    # mean of those with one
    mean = (-0.2 - 0.5 - 0.01) / 3
    assert scores[0] == pytest.approx([-0.2, -0.5, -0.01 - DEFECT_PENALTY, mean])
    assert scores[1] == [0.0, 0.0]  # tied: random order
    result = evaluate_scores("generator", [one, two], scores, ks=(1,), bootstrap=0)
    assert result.per_problem[1] == [1.0, pytest.approx(0.5)]


def test_baselines_read_the_defects_a_run_found_once():
    """The static defects `with_cross_model_signals` found for a run are the ones the
    baselines order by (not found again for each baseline), and they are the same."""
    import dataclasses

    from train.data import with_cross_model_signals
    from train.evaluate import sample_count_scores

    pool = Pool(
        [
            candidate("t/1", 0, "    return x + x\n", True, -0.1),
            candidate("t/1", 1, "    pass\n", False, -0.01),
            candidate("t/1", 2, "    pass\n", False, -0.02),
            candidate("t/2", 0, "    return x * 2\n", True, -0.3),
        ]
    )
    slates = build_slates(pool, PROBLEMS).slates
    signals = with_cross_model_signals(slates, dict(PROBLEMS), {})
    assert signals["t/1"].defects[1] is not None  # found: `pass` does nothing
    for scoring in (sample_count_scores, generator_likelihood_scores):
        assert scoring(slates, PROBLEMS, signals) == scoring(slates, PROBLEMS)
    # what the signals carry is what counts: a defect they say the first program has
    marked = dict(signals)
    marked["t/1"] = dataclasses.replace(signals["t/1"], defects=["marked", None])
    assert sample_count_scores(slates, PROBLEMS, marked)[0][0] < -DEFECT_PENALTY / 2
    assert generator_likelihood_scores(slates, PROBLEMS, marked)[0][0] < -DEFECT_PENALTY / 2
