"""Ranking metrics: ranked pass@k, the random-order reference and the oracle.

Tie rule. `order_by_score` (what `Ranker.rank` returns) breaks ties by original index, which
is deterministic. The *metric* does not: when candidates tied at the k-th place straddle the
cut, `ranked_pass_at_k` counts the expectation over every order of the tied group. A scorer
therefore never gains from the order candidates happen to be stored in; a constant scorer
scores exactly the random-order reference.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import comb

from ranker.order import diverse_order, order_by_score


def pass_at_k_of_order(order: Sequence[int], labels: Sequence[bool], k: int) -> float:
    """1.0 when the first k of an explicit order hold a correct candidate."""
    return float(any(labels[i] for i in order[:k]))


def diverse_pass_at_k(
    scores: Sequence[float],
    labels: Sequence[bool],
    clusters: Sequence[int],
    k: int,
    tie_samples: int = 200,
    tiers: Sequence[float] | None = None,
    weights: Sequence[float] | None = None,
) -> float:
    """Ranked pass@k of the cluster-diverse order (`diverse_order` of the score order). As in
    `ranked_pass_at_k`, ties never profit from storage order: when scores tie, the value is the
    mean over `tie_samples` random tie-breaks (fixed seed, so results are reproducible)."""
    _check(scores, labels, k)
    if all(labels) or not any(labels):  # every order gives the same answer
        return float(any(labels))
    if len(set(scores)) == len(scores):
        order = diverse_order(order_by_score(scores), clusters, tiers, weights, limit=k)
        return pass_at_k_of_order(order, labels, k)
    import numpy as np

    rng = random.Random(len(scores) * 7919 + k)
    total = 0.0
    negated = np.negative(np.asarray(scores, dtype=np.float64))
    for _ in range(tie_samples):
        jitter = np.fromiter((rng.random() for _ in scores), np.float64, len(scores))
        # by score, best first, then jitter: lexsort is stable, as sorted() on (-score, jitter)
        order = np.lexsort((jitter, negated)).tolist()
        top = diverse_order(order, clusters, tiers, weights, limit=k)
        total += pass_at_k_of_order(top, labels, k)
    return total / tie_samples


def ranked_pass_at_k(scores: Sequence[float], labels: Sequence[bool], k: int) -> float:
    """Probability that the k best-scored candidates contain a correct one, ties resolved
    uniformly at random (so the value is exact, not sampled)."""
    _check(scores, labels, k)
    n = len(scores)
    if n == 0:
        return 0.0
    if k >= n:
        return float(any(labels))
    kth = sorted(scores, reverse=True)[k - 1]
    above = [bool(lab) for s, lab in zip(scores, labels, strict=True) if s > kth]
    if any(above):
        return 1.0
    tied = [bool(lab) for s, lab in zip(scores, labels, strict=True) if s == kth]
    slots = k - len(above)
    correct = sum(tied)
    return 1.0 - comb(len(tied) - correct, slots) / comb(len(tied), slots)


def random_pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of a random order of n candidates of which c are correct:
    `1 - C(n-c, k) / C(n, k)` (Chen et al. 2021), 1 when fewer than k are wrong."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if c == 0:
        return 0.0
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def oracle(labels: Sequence[bool]) -> float:
    """1 when any candidate is correct: the best any ranker can do at any k."""
    return float(any(labels))


@dataclass(frozen=True)
class PoolMetrics:
    """Per-k means over problems of the ranked metric, the random reference and the oracle."""

    problems: int
    candidates: int
    ranked: dict[int, float]
    random: dict[int, float]
    oracle: float


def evaluate_rankings(
    problems: Iterable[tuple[Sequence[float], Sequence[bool]]], ks: Sequence[int] = (1, 2, 3, 5, 10)
) -> PoolMetrics:
    """Mean metrics over problems, each given as (scores, labels) of its candidates."""
    ranked = {k: 0.0 for k in ks}
    rand = {k: 0.0 for k in ks}
    best = 0.0
    count = 0
    candidates = 0
    for scores, labels in problems:
        count += 1
        candidates += len(labels)
        c = sum(bool(x) for x in labels)
        for k in ks:
            ranked[k] += ranked_pass_at_k(scores, labels, k)
            rand[k] += random_pass_at_k(len(labels), c, k)
        best += oracle(labels)
    if count == 0:
        raise ValueError("no problems to evaluate")
    return PoolMetrics(
        problems=count,
        candidates=candidates,
        ranked={k: v / count for k, v in ranked.items()},
        random={k: v / count for k, v in rand.items()},
        oracle=best / count,
    )


def _check(scores: Sequence[float], labels: Sequence[bool], k: int) -> None:
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores for {len(labels)} labels")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
