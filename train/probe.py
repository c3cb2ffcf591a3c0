"""What a trained head weighs: a linear probe of its scores on its own features.

Only the order within a problem matters to a ranker, so the probe explains each program's
score *relative to its problem*: scores and features are centred per slate, then the scores
are regressed on the features (least squares, a touch of ridge for features that move
together). A feature's weight is the score change for one standard deviation of that feature
within a problem; R² says how much of the ordering the features explain linearly (1.0 for a
linear head on these features alone; less where the head reads text or bends the features).
`toppass-train fit` writes the probe of the saved ranker on its validation problems into
`metrics.json` ("weighs") and the model card.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

RIDGE = 1e-6  # relative to the number of programs: only separates exactly collinear features
CONSTANT = 1e-9  # a feature whose within-problem spread is below this never moves the order


@dataclass(frozen=True)
class Probe:
    """`weights`: feature -> score change per within-problem standard deviation (features
    that never vary within a problem are left out); `r2`: the share of the within-problem
    score variance the weights explain; over `programs` programs of `problems` problems."""

    weights: dict[str, float]
    r2: float
    programs: int
    problems: int

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    def markdown(self, top: int | None = None) -> str:
        """A table of the weights, largest magnitude first (the first `top` of them)."""
        ranked = sorted(self.weights.items(), key=lambda item: -abs(item[1]))[:top]
        lines = [
            f"Linear probe of the head's score on its features, within each problem "
            f"({self.problems} problems, {self.programs} programs): R² {self.r2:.3f}.",
            "",
            "| feature | weight per SD |",
            "|---|---|",
        ]
        lines += [f"| {name} | {weight:+.3f} |" for name, weight in ranked]
        return "\n".join(lines)


def linear_probe(
    features: Mapping[str, torch.Tensor],
    scores: Mapping[str, Sequence[float]],
    names: Sequence[str],
) -> Probe | None:
    """The probe of `scores` (task id -> one score per program) on `features` (task id ->
    `[n, len(names)]`), over the problems both hold that have two programs or more. None when
    there is nothing to explain: no such problem, or no score or feature varies."""
    blocks_x, blocks_y = [], []
    for task, matrix in features.items():
        values = scores.get(task)
        if values is None or len(values) < 2:
            continue
        if matrix.shape != (len(values), len(names)):
            raise ValueError(
                f"{task}: features {tuple(matrix.shape)} for {len(values)} scores "
                f"and {len(names)} feature names"
            )
        x = matrix.double()
        y = torch.tensor(values, dtype=torch.float64)
        blocks_x.append(x - x.mean(dim=0))
        blocks_y.append(y - y.mean())
    if not blocks_x:
        return None
    x, y = torch.cat(blocks_x), torch.cat(blocks_y)
    spread = x.pow(2).mean(dim=0).sqrt()
    kept = [j for j in range(len(names)) if spread[j] > CONSTANT]
    total = float(y.pow(2).sum())
    if not kept or total <= 0.0:
        return None
    z = x[:, kept] / spread[kept]
    gram = z.T @ z + RIDGE * len(y) * torch.eye(len(kept), dtype=torch.float64)
    weights = torch.linalg.solve(gram, z.T @ y)
    residual = float((y - z @ weights).pow(2).sum())
    return Probe(
        weights={names[j]: float(w) for j, w in zip(kept, weights, strict=True)},
        r2=1.0 - residual / total,
        programs=len(y),
        problems=len(blocks_x),
    )
