"""Training losses over padded slates of candidates.

Every function takes the same three tensors, one row per problem:

    scores[B, N]  float, the ranker's score of each candidate (higher = more likely correct)
    labels[B, N]  bool/0-1, whether the candidate passed the problem's tests
    mask[B, N]    bool, True for real candidates, False for padding

Padding never influences a value or a gradient. The functions hold no model or tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

Surrogate = Literal["squared_hinge", "hinge", "logistic"]

DEFAULT_KS: tuple[int, ...] = (1, 2, 3, 5)


def _split(
    scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    if scores.shape != labels.shape or scores.shape != mask.shape or scores.dim() != 2:
        raise ValueError(
            f"scores, labels and mask must share a [B, N] shape, got "
            f"{tuple(scores.shape)}, {tuple(labels.shape)}, {tuple(mask.shape)}"
        )
    mask = mask.bool()
    labels = labels.bool()
    return mask & labels, mask & ~labels


def _sorted_desc(scores: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Scores of the kept entries per row, highest first; dropped entries sink as -inf."""
    filled = scores.masked_fill(~keep, float("-inf"))
    return filled.sort(dim=1, descending=True).values


def kth_negative(
    scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`s^-_[k]`: the k-th highest negative score per problem, or the lowest negative when a
    problem has fewer than k negatives. Returns (`value[B]`, `has_negative[B]`); rows without
    negatives hold 0 in `value` so that no inf ever enters arithmetic."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _, negatives = _split(scores, labels, mask)
    n_neg = negatives.sum(dim=1)
    ranked = _sorted_desc(scores, negatives)
    index = (n_neg.clamp(max=k) - 1).clamp(min=0)
    value = ranked.gather(1, index.unsqueeze(1)).squeeze(1)
    has_negative = n_neg > 0
    return torch.where(has_negative, value, torch.zeros_like(value)), has_negative


def exact_pass_at_k_loss(
    scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, k: int
) -> torch.Tensor:
    """The 0/1 pass@k failure of the ranking, per problem: `1[max_P s <= s^-_[k]]` when the
    problem has at least k negatives, else 0 (k slots cannot all hold negatives).

    Returns `loss[B]` (float): 1 when the top k (ties counted against the ranker) hold no
    positive; problems lacking positives or negatives get 0. The surrogate upper-bounds it.
    """
    positives, negatives = _split(scores, labels, mask)
    best_positive = scores.masked_fill(~positives, float("-inf")).max(dim=1).values
    threshold, has_negative = kth_negative(scores, labels, mask, k)
    mixed = positives.any(dim=1) & has_negative & (negatives.sum(dim=1) >= k)
    failed = (best_positive <= threshold) & mixed
    return failed.to(scores.dtype)


def surrogate(margin_gap: torch.Tensor, kind: Surrogate, margin: float) -> torch.Tensor:
    """Smooth upper bound of `1[d <= 0]` for `d = s_pos - s^-_[k]`, elementwise.

    squared_hinge: `max(0, margin - d)^2`; hinge: `max(0, margin - d)`;
    logistic: `log(1 + exp(margin - d)) / log 2` (equals 1 at d = margin).
    """
    if kind == "squared_hinge":
        return F.relu(margin - margin_gap).square()
    if kind == "hinge":
        return F.relu(margin - margin_gap)
    if kind == "logistic":
        return F.softplus(margin - margin_gap) / torch.log(torch.tensor(2.0))
    raise ValueError(f"unknown surrogate {kind!r} (squared_hinge, hinge, logistic)")


def pass_at_k_loss(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor,
    ks: Sequence[int] = DEFAULT_KS,
    surrogate_kind: Surrogate = "squared_hinge",
    margin: float = 1.0,
    top_positives: int | None = 3,
) -> torch.Tensor:
    """Top Pass surrogate of the ranked pass@k failure, averaged over mixed problems.

    For problem b with positives P (label 1) and negatives N (label 0), both within the mask:

        loss_b = sum_{k in ks} mean_{i in P_m} l(s_i - s^-_[k])

    where `s^-_[k]` is the k-th highest negative score (the lowest negative when |N| < k),
    `P_m` the `top_positives` highest-scored positives (all of P when None or |P| is smaller)
    and `l` the `surrogate_kind` with `margin` (see `surrogate`). Only the top positives get
    gradient, so a weak-test false positive scored at the bottom is not pulled up, and only the
    negatives at the k-th place matter, where a ranking error costs. Problems without both a
    positive and a negative carry no ranking signal and contribute nothing.

    Returns a scalar: the mean of `loss_b` over mixed problems (0, still differentiable, when
    the batch has none).
    """
    if not ks:
        raise ValueError("ks must name at least one k")
    if top_positives is not None and top_positives < 1:
        raise ValueError(f"top_positives must be >= 1 or None, got {top_positives}")
    positives, _ = _split(scores, labels, mask)
    n_pos = positives.sum(dim=1)
    ranked_pos = _sorted_desc(scores, positives)
    m = scores.shape[1] if top_positives is None else min(top_positives, scores.shape[1])
    ranked_pos = ranked_pos[:, :m]
    slots = torch.arange(m, device=scores.device).unsqueeze(0)
    selected = slots < n_pos.clamp(max=m).unsqueeze(1)  # [B, m]
    safe_pos = torch.where(selected, ranked_pos, torch.zeros_like(ranked_pos))

    total = torch.zeros(scores.shape[0], dtype=scores.dtype, device=scores.device)
    has_negative = torch.zeros(scores.shape[0], dtype=torch.bool, device=scores.device)
    for k in ks:
        threshold, has_negative = kth_negative(scores, labels, mask, k)
        per_slot = surrogate(safe_pos - threshold.unsqueeze(1), surrogate_kind, margin)
        per_slot = per_slot * selected.to(scores.dtype)
        total = total + per_slot.sum(dim=1) / selected.sum(dim=1).clamp(min=1)
    mixed = (n_pos > 0) & has_negative
    if not bool(mixed.any()):
        return scores.sum() * 0.0
    return (total * mixed.to(scores.dtype)).sum() / mixed.sum()


def classification_loss(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor,
    pos_weight: float | None = None,
) -> torch.Tensor:
    """CodeRanker-style baseline: binary cross-entropy of each candidate's score (a logit)
    against its label, averaged over real candidates. Returns a scalar."""
    _split(scores, labels, mask)
    valid = mask.bool()
    if not bool(valid.any()):
        return scores.sum() * 0.0
    weight = None if pos_weight is None else torch.tensor(pos_weight, dtype=scores.dtype)
    per_candidate = F.binary_cross_entropy_with_logits(
        scores, labels.to(scores.dtype), reduction="none", pos_weight=weight
    )
    return (per_candidate * valid.to(scores.dtype)).sum() / valid.sum()


@dataclass(frozen=True)
class LossConfig:
    """Which loss trains a ranker: `passk` (Top Pass), `bce` (CodeRanker) or `mix`
    (`passk_weight * pass_at_k_loss + bce_weight * classification_loss`)."""

    kind: Literal["passk", "bce", "mix"] = "passk"
    ks: tuple[int, ...] = field(default=DEFAULT_KS)
    surrogate: Surrogate = "squared_hinge"
    margin: float = 1.0
    top_positives: int | None = 3
    passk_weight: float = 1.0
    bce_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("passk", "bce", "mix"):
            raise ValueError(f"loss kind must be passk, bce or mix, got {self.kind!r}")
        if self.kind == "mix" and self.bce_weight <= 0 and self.passk_weight <= 0:
            raise ValueError("a mix loss needs a positive passk_weight or bce_weight")


def ranking_loss(
    scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, config: LossConfig
) -> torch.Tensor:
    """The loss `config` names, as a scalar."""
    passk = lambda: pass_at_k_loss(  # noqa: E731
        scores, labels, mask, config.ks, config.surrogate, config.margin, config.top_positives
    )
    if config.kind == "passk":
        return passk()
    if config.kind == "bce":
        return classification_loss(scores, labels, mask)
    return config.passk_weight * passk() + config.bce_weight * classification_loss(
        scores, labels, mask
    )
