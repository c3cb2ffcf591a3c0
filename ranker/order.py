"""The serving order: how a problem's distinct candidate programs are ordered for the user,
told once, here. `Ranker.rank`, the editor and `toppass-train eval` all order through
`served_with_signals` and `serve_order`, so what eval measures is what the editor shows.

Inputs per program: the ranker head's score, how many sampled answers it stands for (`count`),
its static defect (`ranker.signals.defects`), and, where computed, its execution signals
(`ranker.signals.execution`) and reviewer likelihood (`ranker.signals.likelihood`).

1. Examples ran and judged (the docstring's examples, or a problem's visible tests, had
   expected results): the head's score decides; a head trained with execution features reads
   them, and the shipped one reads nothing else there. Programs the features cannot tell apart
   are ordered by defects (last), then z(reviewer) where computed, plus log(count), scaled by
   `TIE_BREAK` so that they never overturn a real difference; a body that does nothing (an
   empty body, only `pass`) goes last whatever the examples say of the others. The list is then made diverse:
   the best program of each behaviour cluster comes before a second member of any cluster,
   but never ahead of a program that passes more examples (`diverse_order` with tiers).
2. Programs ran on inputs with no expected results (inputs built from the parameter types, or
   proposed by a model): nothing was judged, and the head never saw such features. The
   execution-free score below, with the sample count widened to the *behaviour* count (the
   answers whose programs returned the same on every input: self-consistency over behaviour,
   as CodeT's agreement without tests); diverse with the clusters' shares as D'Hondt weights,
   so the top k stay in the cluster most answers agree on.
3. Nothing ran: execution-free. z(head score) + log(count), with z(reviewer) in place of the
   head's score where computed; a program with a static defect goes last (`DEFECT_PENALTY`).
   The z-score makes one standard deviation of the head's opinion weigh as much as a factor e
   in sample count, whatever the head's scale. An answer sampled `count` times is `count`
   candidates that happen to be equal: random order takes it that often, and agreement
   between independent samples is evidence of correctness (self-consistency).

Sampling in rounds (`StoppingRule`, `adaptiveSampling`): with `samples` as the maximum, a first
round of answers is drawn, and the rest only where that round's evidence does not settle the top
of the list: with judged execution, a behaviour cluster that passes every example that ran holds
a clear majority of the answers drawn; without, one program (the same answer, sampled
independently) holds a larger one and has no static defect. Either way the first program of the
order above is then a member of that cluster.

Why the text counts for so little: text rankers trained on one model's candidates learn that
model's habits (length, above all); on other models' pools they fall below random order, and
the counts keep them above it. The figures are in the shipped ranker's model card.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ranker.signals.types import EMPTY_BODY, ExecutionSignals, Signals

logger = logging.getLogger(__name__)


def finite(scores: Sequence[float]) -> list[float]:
    """`scores` with every NaN or infinity replaced by a score below all finite ones (a
    damaged head must not put its NaN first, nor send `NaN` into JSON)."""
    kept = [s for s in scores if math.isfinite(s)]
    floor = (min(kept) - 1.0) if kept else 0.0
    bad = len(scores) - len(kept)
    if bad:
        logger.warning("the ranker gave %d non-finite score(s); they rank last", bad)
    return [s if math.isfinite(s) else floor for s in scores]


def zscores(values: Sequence[float]) -> list[float]:
    """Standard scores within one problem (spread floored at 1e-3; all zeros below two
    values)."""
    if len(values) < 2:
        return [0.0] * len(values)
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return [(v - mean) / max(spread, 1e-3) for v in values]


def order_by_score(scores: Sequence[float]) -> list[int]:
    """Indices from best to worst: higher score first, equal scores by lower index."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def diverse_order(
    order: Sequence[int],
    clusters: Sequence[int],
    tiers: Sequence[float] | None = None,
    weights: Sequence[float] | None = None,
    limit: int | None = None,
) -> list[int]:
    """`order` re-arranged to take the first (best) member of each cluster before any second
    member: the top k then cover as many distinct behaviours as there are. Stable otherwise.
    With `limit`, only the first `limit` of that order (a place once given never changes, so
    the scan stops there: what a metric at k needs).

    With `tiers` (e.g. how many visible examples each program passes), a second member is
    held back only until the order reaches a new cluster of a *lower* tier: diversity never
    puts a program that is less consistent with the examples ahead of one that is more.

    With `weights` (each program's cluster weight, e.g. its share of the sampled answers),
    a cluster's j-th member counts as weight / j against a new cluster's first member
    (D'Hondt apportionment): the second member of a cluster that holds most of the answers
    comes before a cluster with less than half its weight. Where the behaviour clusters are
    coarse (inputs that do not separate right from wrong), this keeps the top k in the
    cluster the samples agree on instead of spending it on stray behaviours."""
    seen: dict[int, int] = {}
    out: list[int] = []
    held: list[tuple[int, float]] = []  # (program, what it weighs against a new cluster)
    for i in order:
        if clusters[i] in seen:
            seen[clusters[i]] += 1
            weight = weights[i] / seen[clusters[i]] if weights is not None else 0.0
            held.append((i, weight))
            continue
        if held and (tiers is not None or weights is not None):
            kept = []
            for j, w in held:
                if (tiers is not None and tiers[j] > tiers[i]) or (
                    weights is not None and w > weights[i]
                ):
                    out.append(j)
                else:
                    kept.append((j, w))
            held = kept
        out.append(i)
        seen[clusters[i]] = 1
        if limit is not None and len(out) >= limit:
            return out[:limit]
    result = out + [j for j, _ in held]
    return result if limit is None else result[:limit]


def serve_order(
    scores: Sequence[float], signals: Signals | None = None, diverse: bool = True
) -> list[int]:
    """Indices best first for `served_with_signals` scores: by score (ties by index), then,
    with execution signals and `diverse`, one program per behaviour cluster first
    (`diverse_order`, by tiers where examples judged, by cluster shares where nothing did)."""
    order = order_by_score(scores)
    execution = signals.execution if signals is not None else None
    if diverse and execution is not None:
        order = diverse_order(order, execution.clusters, execution.tiers, execution.weights)
        # diversity never lifts a program the scores put last for a certain defect
        last = [i for i in order if scores[i] < -DEFECT_PENALTY / 2]
        order = [i for i in order if scores[i] >= -DEFECT_PENALTY / 2] + last
    return order


DEFECT_PENALTY = 1000.0  # below any count or z-score: defective programs always rank last


def execution_free_scores(
    scores: Sequence[float],
    counts: Sequence[float],
    defects: Sequence[str | None],
    reviewer: Sequence[float] | None = None,
) -> list[float]:
    """z(score) + log(count), less `DEFECT_PENALTY` for a program with a static defect. Where
    the `reviewer` log-probabilities are known (`ranker.signals.likelihood`: how well each program
    predicts the docstring), z(reviewer) takes the place of z(score): the text a head learned
    on one pool does not carry to other models' programs, the reviewer does better (model
    card: "Execution-free")."""
    if not len(scores) == len(counts) == len(defects):
        raise ValueError(f"{len(scores)} scores, {len(counts)} counts, {len(defects)} defects")
    if reviewer is not None and len(reviewer) != len(scores):
        raise ValueError(f"{len(reviewer)} reviewer scores for {len(scores)} programs")
    first = zscores(reviewer if reviewer is not None else scores)
    return [
        z + math.log(max(count, 1)) - (DEFECT_PENALTY if defect else 0.0)
        for z, count, defect in zip(first, counts, defects, strict=True)
    ]


TIE_BREAK = 1e-6
"""Scale of the tie-break added to execution-based scores: far below any real difference
between them, so it only orders programs whose scores are equal."""


def served_scores(
    head: Sequence[float],
    counts: Sequence[int],
    defects: Sequence[str | None],
    executed: bool,
    reviewer: Sequence[float] | None = None,
) -> list[float]:
    """The scores a ranker serves from its `head` scores. Without execution (`executed`
    False) the execution-free scores. With it, `head` itself, ties broken by defects, sample
    counts and, where known, the reviewer log-probability (`ranker.signals.likelihood`: how well the
    program predicts the prompt's docstring), z-scored: programs that pass the same examples
    and behave alike on every probe get equal features, and the head cannot tell them apart.
    The text does not break those ties: measured across models it chose worse than the
    counts (the default ranker's card)."""
    if not executed:
        return execution_free_scores(head, counts, defects, reviewer)
    tie = execution_free_scores([0.0] * len(head), counts, defects, reviewer)
    ascending = sorted(tie)
    n = max(len(tie), 1)
    # each program's place in the tie-break order (equal values, equal places); a body that
    # does nothing is certain to be wrong, whatever the examples say of the others
    return [
        score
        + TIE_BREAK * bisect.bisect_left(ascending, value) / n
        - (DEFECT_PENALTY if defect == EMPTY_BODY else 0.0)
        for score, value, defect in zip(head, tie, defects, strict=True)
    ]


def served_with_signals(
    head: Sequence[float],
    counts: Sequence[int],
    defects: Sequence[str | None],
    signals: Signals | None,
) -> list[float]:
    """`served_scores` for a problem's `signals` (executed when they hold judged execution
    results; the reviewer from their likelihood scores, when given): what `Ranker.rank`
    serves and `toppass-train eval` measures. Execution that judged nothing (agreement
    only) gives the execution-free scores over `behaviour_counts`."""
    execution = signals.execution if signals is not None else None
    likelihood = signals.likelihood if signals is not None else None
    reviewer = [value for _, value in likelihood] if likelihood is not None else None
    if execution is not None and not execution.judged:
        return execution_free_scores(head, behaviour_counts(execution, counts), defects, reviewer)
    return served_scores(head, counts, defects, executed=execution is not None, reviewer=reviewer)


def learned_scores(head: Sequence[float], defects: Sequence[str | None]) -> list[float]:
    """The served scores of a ranker whose head learned from the cross-model signals itself
    (`RankerConfig.served` "learned": sample counts, agreement, defects and execution are its
    features): its own score, except that a body that does nothing still goes last."""
    if len(head) != len(defects):
        raise ValueError(f"{len(head)} scores, {len(defects)} defects")
    return [
        score - (DEFECT_PENALTY if defect == EMPTY_BODY else 0.0)
        for score, defect in zip(head, defects, strict=True)
    ]


def serve(
    head: Sequence[float],
    counts: Sequence[int],
    defects: Sequence[str | None],
    signals: Signals | None,
    learned: bool,
) -> list[float]:
    """The served scores, by the rules (`served_with_signals`) or by a learned head
    (`learned_scores`)."""
    if learned:
        return learned_scores(head, defects)
    return served_with_signals(head, counts, defects, signals)


def behaviour_counts(execution: ExecutionSignals, counts: Sequence[int]) -> list[float]:
    """Each program's number of sampled answers that behaved as it did on every probe: its
    cluster's share of all `counts`."""
    if len(execution.cluster_shares) != len(counts):
        raise ValueError(f"execution signals for {len(execution.runs)} programs, not {len(counts)}")
    total = sum(counts)
    return [share * total for share in execution.cluster_shares]


@dataclass(frozen=True)
class Evidence:
    """What the answers drawn so far say about one function: `answers` drawn (unusable ones
    too), and per distinct program its `counts` of answers, its static `defects` (None: not
    looked at) and its `execution` on the examples (None: nothing ran)."""

    answers: int
    counts: Sequence[int]
    execution: ExecutionSignals | None = None
    defects: Sequence[str | None] | None = None


@dataclass(frozen=True)
class StoppingRule:
    """When sampling may stop before `samples` answers (`adaptiveSampling`). Answers come in
    `rounds`: `first_round`, then the rest of the maximum at once (more rounds cost a round
    trip each on a backend that samples in parallel). After a round, `settled` says whether
    the evidence decides the top of the list:

    - judged execution (examples with expected results ran): the answers of one behaviour
      cluster whose programs pass every example that ran are more than `majority` of all
      answers drawn;
    - otherwise (nothing ran, or nothing judged): one program, with no static defect, stands
      for more than `majority_unexecuted` of them. Identical answers are weaker evidence than
      passing examples (a model repeats its favourite mistake), so the bar is higher.

    Never before `min_answers` answers."""

    first_round: int = 4
    majority: float = 0.5
    majority_unexecuted: float = 0.75
    min_answers: int = 4

    def __post_init__(self) -> None:
        if self.first_round < 1 or self.min_answers < 1:
            raise ValueError("first_round and min_answers must be >= 1")
        if not (0.0 <= self.majority < 1.0 and 0.0 <= self.majority_unexecuted < 1.0):
            raise ValueError("majorities are shares in [0, 1)")

    def rounds(self, maximum: int) -> list[int]:
        """How many answers each round asks for, `maximum` in all: the first round, then the
        rest (one round when the maximum is no larger than the first)."""
        if maximum <= self.first_round:
            return [maximum] if maximum > 0 else []
        return [self.first_round, maximum - self.first_round]

    def settled(self, evidence: Evidence) -> bool:
        """Whether `evidence` settles the top of the list (see the class docstring)."""
        if evidence.answers < self.min_answers or not evidence.counts:
            return False
        return self.leading_share(evidence) > (
            self.majority if _judged(evidence.execution) else self.majority_unexecuted
        )

    @staticmethod
    def leading_share(evidence: Evidence) -> float:
        """The share of the answers drawn that the strongest group holds: with judged
        execution, the largest cluster passing every example; otherwise the most frequent
        program without a defect. 0.0 where there is none."""
        counts = evidence.counts
        total = max(evidence.answers, sum(counts), 1)
        execution = evidence.execution
        if execution is not None and _judged(execution):
            if len(execution.runs) != len(counts):
                raise ValueError(f"execution of {len(execution.runs)} programs, not {len(counts)}")
            mass: dict[int, int] = {}
            for run, cluster, count in zip(execution.runs, execution.clusters, counts, strict=True):
                if run.passed == execution.cases:
                    mass[cluster] = mass.get(cluster, 0) + count
            return max(mass.values(), default=0) / total
        defects = evidence.defects if evidence.defects is not None else [None] * len(counts)
        if len(defects) != len(counts):
            raise ValueError(f"{len(defects)} defects for {len(counts)} programs")
        clean = [count for count, defect in zip(counts, defects, strict=True) if defect is None]
        return max(clean, default=0) / total


def _judged(execution: ExecutionSignals | None) -> bool:
    return execution is not None and execution.judged
