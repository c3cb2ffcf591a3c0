"""Honest evaluation of a ranking: ranked pass@k beside random order and the oracle, with a
bootstrap interval over problems, and the baselines (length only, sample counts, execution
without learning) in the same run."""

from __future__ import annotations

import array
import functools
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ranker.model.metrics import diverse_pass_at_k, oracle, random_pass_at_k, ranked_pass_at_k
from ranker.order import DEFECT_PENALTY, finite, serve
from ranker.signals.defects import static_defects
from ranker.signals.types import Signals
from train.problems import Problem
from train.slates import Slate

DEFAULT_KS: tuple[int, ...] = (1, 2, 3, 5, 10)

SlateScorer = Callable[[Sequence[Slate]], list[list[float]]]


@dataclass
class Evaluation:
    """Per-k means over problems, and 95% bootstrap intervals of the ranked metric."""

    name: str
    problems: int
    candidates: int
    ranked: dict[int, float]
    random: dict[int, float]
    oracle: float
    ranked_ci95: dict[int, tuple[float, float]] = field(default_factory=dict)
    per_problem: dict[int, list[float]] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "ranker": self.name,
            "problems": self.problems,
            "candidates": self.candidates,
            "ranked": {f"pass@{k}": round(v, 4) for k, v in self.ranked.items()},
            "random": {f"pass@{k}": round(v, 4) for k, v in self.random.items()},
            "oracle": round(self.oracle, 4),
            "ranked_ci95": {
                f"pass@{k}": [round(lo, 4), round(hi, 4)]
                for k, (lo, hi) in self.ranked_ci95.items()
            },
        }


def evaluate_scores(
    name: str,
    slates: Sequence[Slate],
    scores: Sequence[Sequence[float]],
    ks: Sequence[int] = DEFAULT_KS,
    bootstrap: int = 1000,
    seed: int = 0,
    clusters: Sequence[Sequence[int] | None] | None = None,
    tiers: Sequence[Sequence[float] | None] | None = None,
    weights: Sequence[Sequence[float] | None] | None = None,
) -> Evaluation:
    """Metrics of one scoring of `slates` (`scores[i]` aligned with `slates[i].programs`).

    Ranked pass@k is over each slate's distinct programs; the random reference is the unbiased
    estimator over the prepared answers with their multiplicity (`Slate.counts`). With
    `clusters` (behaviour cluster ids per program, or None for a slate without), the ranking
    is cluster-diverse (`ranker.order.diverse_order`, within `tiers` where given: visible
    examples passed; by `weights` where given: cluster shares), as `Ranker.rank` serves it."""
    if len(slates) != len(scores):
        raise ValueError(f"{len(scores)} score lists for {len(slates)} slates")
    if not slates:
        raise ValueError("no problems to evaluate")
    per_problem: dict[int, list[float]] = {k: [] for k in ks}
    rand: dict[int, float] = {k: 0.0 for k in ks}
    best = 0.0
    cluster_lists = list(clusters) if clusters is not None else [None] * len(slates)
    tier_lists = list(tiers) if tiers is not None else [None] * len(slates)
    weight_lists = list(weights) if weights is not None else [None] * len(slates)
    for slate, slate_scores, slate_clusters, slate_tiers, slate_weights in zip(
        slates, scores, cluster_lists, tier_lists, weight_lists, strict=True
    ):
        if len(slate_scores) != len(slate.programs):
            raise ValueError(
                f"{slate.task_id}: {len(slate_scores)} scores for {len(slate.programs)}"
            )
        # Random order of the *sampled* pool: every prepared answer counts, duplicates too (the
        # baseline is "take a sample", which duplicates make likelier); ranking works on the
        # distinct programs, as the editor shows them.
        sampled = sum(slate.counts)
        correct = sum(c for c, label in zip(slate.counts, slate.labels, strict=True) if label)
        for k in ks:
            if slate_clusters is None:
                per_problem[k].append(ranked_pass_at_k(slate_scores, slate.labels, k))
            else:
                per_problem[k].append(
                    diverse_pass_at_k(
                        slate_scores,
                        slate.labels,
                        slate_clusters,
                        k,
                        tiers=slate_tiers,
                        weights=slate_weights,
                    )
                )
            rand[k] += random_pass_at_k(sampled, correct, k)
        best += oracle(slate.labels)
    n = len(slates)
    return Evaluation(
        name=name,
        problems=n,
        candidates=sum(len(s.programs) for s in slates),
        ranked={k: sum(v) / n for k, v in per_problem.items()},
        random={k: v / n for k, v in rand.items()},
        oracle=best / n,
        ranked_ci95=intervals(per_problem, bootstrap, seed),
        per_problem=per_problem,
    )


def intervals(
    per_problem: dict[int, list[float]], resamples: int, seed: int
) -> dict[int, tuple[float, float]]:
    """The 95% interval of each k's mean; none with no resamples (0: intervals off), rather
    than an interval of zero width that would claim a certainty the run did not measure."""
    if resamples <= 0:
        return {}
    return {k: bootstrap_interval(v, resamples, seed) for k, v in per_problem.items()}


def bootstrap_interval(
    values: Sequence[float], resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of `values` (resampling problems)."""
    if resamples <= 0 or not values:
        mean = sum(values) / len(values) if values else 0.0
        return mean, mean
    n = len(values)
    pick = values.__getitem__
    means = sorted(sum(map(pick, drawn)) / n for drawn in _resamples(n, resamples, seed))
    return means[int(0.025 * (resamples - 1))], means[int(0.975 * (resamples - 1))]


@functools.lru_cache(maxsize=2)
def _resamples(n: int, resamples: int, seed: int) -> tuple[array.array[int], ...]:
    """The problems drawn for each resample: the same for every interval of a run with the
    same number of problems (one evaluation has one interval per k, a run several rankers and
    baselines), so they are drawn once (4 bytes a draw: 20 MB for 5,000 problems)."""
    rng = random.Random(seed)
    return tuple(array.array("i", [rng.randrange(n) for _ in range(n)]) for _ in range(resamples))


def paired_difference(
    ours: Evaluation, theirs: Evaluation, resamples: int = 1000, seed: int = 0
) -> dict[int, tuple[float, float, float]]:
    """Per k: the mean per-problem difference `ours - theirs` and its 95% paired bootstrap
    interval (the same problems resampled for both), so "better by more than the interval"
    is read from one row rather than from two overlapping intervals. With no resamples the
    interval is the difference itself."""
    if ours.problems != theirs.problems:
        raise ValueError(
            f"{ours.name} has {ours.problems} problems, {theirs.name} {theirs.problems}"
        )
    result = {}
    for k in ours.per_problem.keys() & theirs.per_problem.keys():
        deltas = [a - b for a, b in zip(ours.per_problem[k], theirs.per_problem[k], strict=True)]
        lo, hi = bootstrap_interval(deltas, resamples, seed)
        result[k] = (sum(deltas) / len(deltas), lo, hi)
    return dict(sorted(result.items()))


def length_scores(slates: Sequence[Slate]) -> list[list[float]]:
    """The length-only baseline: longer programs first."""
    return [[float(len(p)) for p in slate.programs] for slate in slates]


def within_problem_correlation(
    slates: Sequence[Slate], a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]
) -> float:
    """Mean over problems (3+ programs, both series varying) of the Spearman correlation of
    two scorings: how much one ordering shares with another inside a problem."""
    values = []
    for slate, xs, ys in zip(slates, a, b, strict=True):
        if len(slate.programs) < 3:
            continue
        rx, ry = _ranks(xs), _ranks(ys)
        if len(set(rx)) > 1 and len(set(ry)) > 1:
            values.append(statistics.correlation(rx, ry))
    return statistics.fmean(values) if values else float("nan")


def length_correlation(slates: Sequence[Slate], scores: Sequence[Sequence[float]]) -> float:
    """`within_problem_correlation` with program length: how much of an ordering is
    "longer is better"."""
    return within_problem_correlation(slates, scores, length_scores(slates))


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def execution_scores(slates: Sequence[Slate], signals: Mapping[str, Signals]) -> list[list[float]]:
    """The no-learning execution baseline: programs that pass more visible examples first,
    ties by the share of sampled answers in their behaviour cluster (CodeT-style agreement).
    A slate without execution signals keeps every program tied."""
    result = []
    for slate in slates:
        execution = signals[slate.task_id].execution if slate.task_id in signals else None
        if execution is None:
            result.append([0.0] * len(slate.programs))
            continue
        result.append(
            [
                run.passed + 0.5 * share
                for run, share in zip(execution.runs, execution.cluster_shares, strict=True)
            ]
        )
    return result


def served_slate_scores(
    slates: Sequence[Slate],
    head: Sequence[Sequence[float]],
    signals: Mapping[str, Signals],
    problems: Mapping[str, Problem],
    learned: bool = False,
) -> list[list[float]]:
    """A ranker's `head` scores (with the slates' `signals`) as `Ranker.rank` serves them:
    `ranker.order.serve` with each slate's sample counts, by the rules or, for a ranker whose
    head learned the cross-model signals (`learned`), by the head."""
    result = []
    for slate, scores in zip(slates, head, strict=True):
        known = signals.get(slate.task_id)
        defects = slate_defects(slate, problems, known)
        result.append(serve(finite(scores), slate.counts, defects, known, learned))
    return result


def slate_defects(
    slate: Slate, problems: Mapping[str, Problem], signals: Signals | None = None
) -> list[str | None]:
    """Each program's static defect: those the slate's `signals` carry
    (`train.data.with_cross_model_signals` finds them once for a run), else found now."""
    if signals is not None and signals.defects is not None:
        return list(signals.defects)
    return static_defects(slate.problem, slate.programs, problems[slate.task_id].entry_point)


def sample_count_scores(
    slates: Sequence[Slate],
    problems: Mapping[str, Problem],
    signals: Mapping[str, Signals] | None = None,
) -> list[list[float]]:
    """The no-learning execution-free baseline: programs with a static defect last, the rest
    by how often they were sampled (self-consistency). Of `signals`, only the static defects
    they carry are read."""
    known = signals or {}
    return [
        serve(
            [0.0] * len(slate.programs),
            slate.counts,
            slate_defects(slate, problems, known.get(slate.task_id)),
            None,
            learned=False,
        )
        for slate in slates
    ]


def generator_likelihood_scores(
    slates: Sequence[Slate],
    problems: Mapping[str, Problem],
    signals: Mapping[str, Signals] | None = None,
) -> list[list[float]]:
    """A no-learning execution-free baseline from the pool's own log-probabilities: programs
    with a static defect last, the rest by the generator's mean token log-probability
    (`Slate.logprobs`, recorded by `toppass-train generate` where the backend reports them). A
    program without one counts as its slate's mean; a slate without any stays tied. Of
    `signals`, only the static defects they carry are read."""
    carried = signals or {}
    result = []
    for slate in slates:
        known = [v for v in slate.logprobs if v is not None]
        if known:
            mean = sum(known) / len(known)
            values = [v if v is not None else mean for v in slate.logprobs]
        else:
            values = [0.0] * len(slate.programs)
        defects = slate_defects(slate, problems, carried.get(slate.task_id))
        result.append(
            [v - (DEFECT_PENALTY if d else 0.0) for v, d in zip(values, defects, strict=True)]
        )
    return result


@dataclass(frozen=True)
class Diversity:
    """Per slate, what `evaluate_scores` needs to order it as `Ranker.rank` does: behaviour
    clusters, tiers (examples passed) and weights (cluster shares, where nothing was judged);
    None for a slate without execution."""

    clusters: list[Sequence[int] | None]
    tiers: list[Sequence[float] | None]
    weights: list[Sequence[float] | None]

    def arguments(self) -> dict[str, Any]:
        return {"clusters": self.clusters, "tiers": self.tiers, "weights": self.weights}


def diversity_of(slates: Sequence[Slate], signals: Mapping[str, Signals]) -> Diversity:
    """Behaviour clusters, tiers and weights per slate, for `evaluate_scores`."""
    found = [
        signals[slate.task_id].execution if slate.task_id in signals else None for slate in slates
    ]
    return Diversity(
        clusters=[e.clusters if e is not None else None for e in found],
        tiers=[e.tiers if e is not None else None for e in found],
        weights=[e.weights if e is not None else None for e in found],
    )


def offered_labels(
    ranker: Any,
    slates: Sequence[Slate],
    problems: Mapping[str, Problem],
    runner: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[list[bool] | None]:
    """Per slate, the labels of the candidates the editor would offer, in the order it offers
    them (`ranker.offer.rank_candidates`): the problem's prompt as the user's file
    (`ranker.source.context_for_prompt`), the slate's programs as the model's answers, each as
    often as it was sampled; with `runner` (an `ExampleRunner`), the bodies as applied run on
    the docstring's examples. A candidate's label is its first answer's (answers that give the
    same body behave alike). None for a problem with no function to write (stdin/stdout)."""
    from ranker.offer import rank_candidates
    from ranker.source import context_for_prompt

    out: list[list[bool] | None] = []
    for done, slate in enumerate(slates, 1):
        entry_point = problems[slate.task_id].entry_point
        ctx = context_for_prompt(slate.problem, entry_point) if entry_point else None
        if ctx is None:
            out.append(None)
        else:
            raws: list[str] = []
            labels: list[bool] = []
            for program, label, count in zip(
                slate.programs, slate.labels, slate.counts, strict=True
            ):
                raws += [program] * count
                labels += [label] * count
            offer = rank_candidates(ranker, ctx, raws, examples=runner)
            out.append([labels[candidate.answers[0]] for candidate in offer.candidates])
        if progress is not None:
            progress(done, len(slates))
    return out


def evaluate_orders(
    name: str,
    slates: Sequence[Slate],
    orders: Sequence[Sequence[bool] | None],
    ks: Sequence[int] = DEFAULT_KS,
    bootstrap: int = 1000,
    seed: int = 0,
) -> Evaluation:
    """Metrics of fixed orders (each slate's labels in the order shown; None: the slate is left
    out): pass@k is whether a correct candidate is among the first k shown, as a user sees
    them. Random order and the oracle are over the same slates' sampled answers."""
    kept = [
        (slate, order) for slate, order in zip(slates, orders, strict=True) if order is not None
    ]
    if not kept:
        raise ValueError("no problems to evaluate")
    per_problem = {k: [float(any(order[:k])) for _, order in kept] for k in ks}
    n = len(kept)
    rand = {
        k: sum(
            random_pass_at_k(
                sum(slate.counts),
                sum(c for c, label in zip(slate.counts, slate.labels, strict=True) if label),
                k,
            )
            for slate, _ in kept
        )
        / n
        for k in ks
    }
    return Evaluation(
        name=name,
        problems=n,
        candidates=sum(len(order) for _, order in kept),
        ranked={k: sum(v) / n for k, v in per_problem.items()},
        random=rand,
        oracle=sum(oracle(slate.labels) for slate, _ in kept) / n,
        ranked_ci95=intervals(per_problem, bootstrap, seed),
        per_problem=per_problem,
    )
