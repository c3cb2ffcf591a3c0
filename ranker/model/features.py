"""Signals beside the text that a ranker head can take as input, grouped so that a group can
be absent: each group starts with an `*_available` flag, and a missing group is all zeros.
A ranker trained with group dropout (`train.fit`) therefore ranks with any subset: with
execution when the user allows it, without when not.

    execution   from running the candidates on the problem's visible tests (ranker.signals.execution)
    likelihood  from a causal LM's view of the candidate (ranker.signals.likelihood): coder and
                reviewer mean log-probabilities, z-scored within the problem
    sampling    how many independent samples gave each program: share, log count z-scored,
                the most sampled (self-consistency; absent for pools of dependent answers)
    agreement   the share of answers whose programs behaved the same on every input run,
                judged or not (CodeT-style agreement; absent where nothing ran)
    defects     static defects, by kind (ranker.signals.defects)
    generator   the generator's own mean token log-probability, z-scored (where given)

These four carry across the models that wrote the candidates, where the text does not: a ranker
can be trained on them alone (`RankerConfig.text` false).

All values are relative to the problem's slate (shares, fractions, z-scores), never absolute
lengths or counts, so they mean the same for a problem with 5 candidates and one with 500.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ranker.order import zscores
from ranker.signals.types import EMPTY_BODY, ExecutionSignals, Signals

if TYPE_CHECKING:
    import torch

GROUPS: dict[str, tuple[str, ...]] = {
    "execution": (
        "exec_available",
        "exec_pass_fraction",
        "exec_all_pass",
        "exec_error_fraction",
        "exec_timeout_fraction",
        "exec_cluster_share",
        "exec_largest_cluster",
        "exec_passing_cluster_share",
    ),
    "likelihood": ("lm_available", "lm_coder_z", "lm_reviewer_z"),
    "sampling": ("count_available", "count_share", "count_log_z", "count_top"),
    "agreement": ("agree_available", "agree_share", "agree_top"),
    "defects": (
        "defect_available",
        "defect_any",
        "defect_empty",
        "defect_undefined",
        "defect_returns",
        "defect_signature",
    ),
    "generator": ("gen_available", "gen_logprob_z"),
}


def feature_names(groups: Sequence[str]) -> tuple[str, ...]:
    return tuple(name for group in groups for name in GROUPS[group])


def _execution_columns(n: int, signals: ExecutionSignals | None) -> list[list[float]]:
    width = len(GROUPS["execution"])
    if signals is None or not signals.judged:
        # Agreement without any expected result is not what the head was trained on (every
        # training problem has a visible test): it reaches the ranking through
        # `ranker.order` instead.
        return [[0.0] * width for _ in range(n)]
    if len(signals.runs) != n:
        raise ValueError(f"execution signals for {len(signals.runs)} programs, not {n}")
    cases = max(signals.cases, 1)
    all_pass = [signals.cases > 0 and run.passed == signals.cases for run in signals.runs]
    passing_mass: dict[int, float] = {}
    for cluster, share, ok in zip(signals.clusters, signals.cluster_shares, all_pass, strict=True):
        if ok:
            passing_mass[cluster] = share
    passing_total = sum(passing_mass.values())
    largest = max(signals.cluster_shares)
    rows = []
    for i, run in enumerate(signals.runs):
        share = signals.cluster_shares[i]
        rows.append(
            [
                1.0,
                run.passed / cases,
                float(all_pass[i]),
                run.errors / cases,
                run.timeouts / cases,
                share,
                float(share >= largest - 1e-12),
                share / passing_total if all_pass[i] and passing_total > 0 else 0.0,
            ]
        )
    return rows


def _likelihood_columns(n: int, values: Sequence[tuple[float, float]] | None) -> list[list[float]]:
    if values is None:
        return [[0.0, 0.0, 0.0] for _ in range(n)]
    if len(values) != n:
        raise ValueError(f"likelihood scores for {len(values)} programs, not {n}")
    coder = zscores([v[0] for v in values])
    reviewer = zscores([v[1] for v in values])
    return [[1.0, c, r] for c, r in zip(coder, reviewer, strict=True)]


def _sampling_columns(n: int, counts: Sequence[int] | None) -> list[list[float]]:
    if counts is None:
        return [[0.0] * 4 for _ in range(n)]
    if len(counts) != n:
        raise ValueError(f"sample counts for {len(counts)} programs, not {n}")
    total = max(sum(counts), 1)
    logs = zscores([math.log(max(c, 1)) for c in counts])
    top = max(counts, default=0)
    return [
        [1.0, c / total, z, float(c == top and top > 1)] for c, z in zip(counts, logs, strict=True)
    ]


def _agreement_columns(
    n: int, execution: ExecutionSignals | None, counts: Sequence[int] | None
) -> list[list[float]]:
    if execution is None:
        return [[0.0] * 3 for _ in range(n)]
    if len(execution.cluster_shares) != n:
        raise ValueError(f"execution signals for {len(execution.runs)} programs, not {n}")
    if counts is not None:  # shares of the independent answers, duplicates counted
        total = max(sum(counts), 1)
        mass: dict[int, float] = {}
        for cluster, count in zip(execution.clusters, counts, strict=True):
            mass[cluster] = mass.get(cluster, 0.0) + count
        shares = [mass[c] / total for c in execution.clusters]
    else:  # of the distinct programs
        size: dict[int, int] = {}
        for cluster in execution.clusters:
            size[cluster] = size.get(cluster, 0) + 1
        shares = [size[c] / n for c in execution.clusters]
    largest = max(shares, default=0.0)
    return [[1.0, share, float(share >= largest - 1e-12)] for share in shares]


def _defect_columns(n: int, defects: Sequence[str | None] | None) -> list[list[float]]:
    if defects is None:
        return [[0.0] * 6 for _ in range(n)]
    if len(defects) != n:
        raise ValueError(f"defects for {len(defects)} programs, not {n}")
    rows = []
    for defect in defects:
        text = defect or ""
        rows.append(
            [
                1.0,
                float(defect is not None),
                float(text == EMPTY_BODY),
                float("is not defined" in text),
                float(text.endswith("returns nothing")),
                float(text.startswith("no function") or "parameters, the prompt" in text),
            ]
        )
    return rows


def _generator_columns(n: int, values: Sequence[float | None] | None) -> list[list[float]]:
    known = [v for v in values or () if v is not None and math.isfinite(v)]
    if values is None or not known:
        return [[0.0, 0.0] for _ in range(n)]
    if len(values) != n:
        raise ValueError(f"generator log-probabilities for {len(values)} programs, not {n}")
    mean = sum(known) / len(known)
    filled = [v if v is not None and math.isfinite(v) else mean for v in values]
    return [[1.0, z] for z in zscores(filled)]


def feature_matrix(n: int, signals: Signals | None, groups: Sequence[str]) -> torch.Tensor:
    """`[n, F]` features for n programs, in `feature_names(groups)` order."""
    import torch

    signals = signals or Signals()
    columns: list[list[list[float]]] = []
    for group in groups:
        if group == "execution":
            columns.append(_execution_columns(n, signals.execution))
        elif group == "likelihood":
            columns.append(_likelihood_columns(n, signals.likelihood))
        elif group == "sampling":
            columns.append(_sampling_columns(n, signals.counts))
        elif group == "agreement":
            columns.append(_agreement_columns(n, signals.execution, signals.counts))
        elif group == "defects":
            columns.append(_defect_columns(n, signals.defects))
        elif group == "generator":
            columns.append(_generator_columns(n, signals.generator))
        else:
            raise ValueError(f"unknown feature group {group!r}")
    rows = [[x for block in columns for x in block[i]] for i in range(n)]
    return torch.tensor(rows, dtype=torch.float32).reshape(n, len(feature_names(groups)))


def group_slices(groups: Sequence[str]) -> dict[str, slice]:
    """Column range of each group in `feature_matrix` (for group dropout)."""
    out, start = {}, 0
    for group in groups:
        width = len(GROUPS[group])
        out[group] = slice(start, start + width)
        start += width
    return out
