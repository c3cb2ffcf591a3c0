"""The editor's feedback log (`feedbackLog`; `ranker.feedback` reads it) as training data,
and how often the user's kept candidate is ranked first, as logged and by another ranker.

A request becomes one slate when something the user applied from it has an outcome:

    kept, edited   the candidate is labelled correct (an `edited` one stayed close to what the
                   user kept: difflib ratio >= 0.6, `ranker.feedback.EDITED_SIMILARITY`)
    replaced       the candidate is labelled incorrect (another applied over it, undone, gone)
    shown, not applied   beside a kept one, labelled incorrect: the user saw it and took
                   another (candidates ranked below what the editor showed are left out)

Requests whose applications have no outcome yet (never saved), and requests nothing was
applied from, are skipped. The slates keep the program text as ranked, the prompt as the ranker
read it and the logged signals, so `fit` retrains without running anything again: the feature
groups of any ranker are recomputed from them (`ranker.model.features`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ranker.feedback import FeedbackError, FeedbackLog, Offer, kept_rank, read_feedback
from ranker.signals.types import Signals
from train.slates import Slate

TASK_PREFIX = "feedback/"


@dataclass
class FeedbackSlates:
    """Slates from a log, their logged signals (by task id) and what was skipped."""

    slates: list[Slate] = field(default_factory=list)
    signals: dict[str, Signals] = field(default_factory=dict)
    offers: int = 0
    without_outcome: int = 0

    def summary(self) -> str:
        kept = sum(any(s.labels) for s in self.slates)
        return (
            f"{self.offers} requests logged: {len(self.slates)} with an outcome ({kept} with a "
            f"candidate kept), {self.without_outcome} without one skipped"
        )


def read_logs(paths: Sequence[Path]) -> FeedbackLog:
    """Every record of the logs at `paths`, joined by request id; `FeedbackError` where a log
    is missing or damaged, or where none holds an outcome (nothing to learn from)."""
    log = read_feedback(paths)
    if not log.outcomes:
        names = ", ".join(str(p) for p in paths)
        raise FeedbackError(
            f"{names}: no outcomes in the feedback log ({len(log.offers)} requests logged; an "
            "outcome is decided when the file a candidate was applied to is saved)"
        )
    return log


def feedback_slates(log: FeedbackLog) -> FeedbackSlates:
    """One slate per request with an outcome (see the module's docstring for the labels)."""
    out = FeedbackSlates(offers=len(log.offers))
    for request, offer in log.offers.items():
        decided = log.outcomes_of(request)
        if not decided:
            out.without_outcome += 1
            continue
        kept = kept_rank(decided)
        replaced = {d.rank for d in decided if d.outcome == "replaced" and d.rank != kept}
        labelled: list[tuple[int, bool]] = []
        for index, candidate in enumerate(offer.candidates):
            if candidate.rank == kept:
                labelled.append((index, True))
            elif candidate.rank in replaced or (kept is not None and candidate.rank <= offer.shown):
                labelled.append((index, False))
        if not labelled:
            continue
        indices = [index for index, _ in labelled]
        task_id = TASK_PREFIX + request
        out.slates.append(
            Slate(
                task_id,
                offer.prompt,
                tuple(offer.candidates[i].program for i in indices),
                tuple(label for _, label in labelled),
                tuple(offer.candidates[i].count for i in indices),
                independent=True,  # the editor's answers are sampled independently
            )
        )
        if offer.signals is not None:
            out.signals[task_id] = offer.signals.select(indices)
    return out


@dataclass(frozen=True)
class KeptAtTop:
    """How often the kept candidate is first and in the top k, over `requests` requests."""

    requests: int
    first: float
    top_k: float
    k: int

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "#1": round(self.first, 4),
            f"top-{self.k}": round(self.top_k, 4),
        }


def kept_positions(log: FeedbackLog) -> list[tuple[Offer, int]]:
    """(offer, the kept candidate's position in it, 0-based) for every request where the user
    kept (or kept and edited) a candidate."""
    found = []
    for request, offer in log.offers.items():
        rank = kept_rank(log.outcomes_of(request))
        if rank is not None and 1 <= rank <= len(offer.candidates):
            found.append((offer, rank - 1))
    return found


def kept_at_top(positions: Sequence[int], k: int) -> KeptAtTop:
    n = len(positions)
    return KeptAtTop(
        n,
        sum(p == 0 for p in positions) / max(n, 1),
        sum(p < k for p in positions) / max(n, 1),
        k,
    )


def reranked_positions(ranker: Any, kept: Sequence[tuple[Offer, int]]) -> list[int]:
    """Where `ranker` puts each kept candidate, serving the logged candidates as the editor
    would (`Ranker.rank`: the serving order, with the logged signals, counts and defects)."""
    positions = []
    for offer, index in kept:
        programs = [c.program for c in offer.candidates]
        counts = [c.count for c in offer.candidates]
        signals = offer.signals
        defects = signals.defects if signals is not None and signals.defects is not None else None
        order = ranker.rank(offer.prompt, programs, signals=signals, counts=counts, defects=defects)
        positions.append([i for i, _ in order].index(index))
    return positions


def evaluate_feedback(log: FeedbackLog, ranker: Any | None, k: int = 3) -> dict[str, Any]:
    """How often the user's kept candidate was first and in the top `k`: in the order logged
    ("before") and, with `ranker`, in the order it serves ("after")."""
    kept = kept_positions(log)
    if not kept:
        raise FeedbackError("no request in the feedback log has a kept candidate to rank")
    result: dict[str, Any] = {"before": kept_at_top([i for _, i in kept], k).to_json()}
    if ranker is not None:
        result["after"] = kept_at_top(reranked_positions(ranker, kept), k).to_json()
    return result
