"""The probability that a candidate is correct, calibrated from the score the ranker serves,
and the measures of how well such probabilities are calibrated (ECE, Brier score).

The served score (`ranker.order.served_with_signals`) is not on one scale across the tiers of
the serving order, so a calibration holds one map per *mode*, each from a score that means the
same for every problem of that mode:

    judged     examples ran and judged: the served score is the head's score (plus tie-breaks
               below `ranker.order.TIE_BREAK`); the head reads fractions and shares of the
               problem's programs, never absolute counts
    agreement  inputs ran that judge nothing: served is z(text) + log(behaviour count); less
               the log of the mean count (answers per distinct program) that is z(text) +
               log(behaviour count / mean count)
    none       nothing ran: served is z(text) + log(count); less the log of the mean count,
               z(text) + log(count / mean count)

(A count against the mean count, not against all answers: a share of the answers shrinks with
the number of distinct programs, 1 in 7 on an LDB problem, 1 in 270 on a canaicode one, where
being sampled as often as the others means the same.)

(z(reviewer) takes z(text)'s place where the reviewer scored the programs.) A program served
last for a certain defect (below -DEFECT_PENALTY / 2) gets the rate at which such programs were
correct where the calibration was fitted, whatever its mode.

Each map is monotone, so within a problem the probabilities keep the served order. It is
isotonic regression or Platt scaling, whichever predicted held-out problems better
(`fit_calibration`: cross-validated by problem). Probabilities stay within [`FLOOR`,
`CEILING`]: a few hundred calibration programs cannot vouch for one in a hundred.

A ranker directory holds it as calibration.json beside config.json (`Ranker.save_pretrained`),
with the hash of the weights it was fitted for; a ranker without one (or whose weights changed
since) has no calibrated probability. `toppass-train calibrate` fits one, `toppass-train fit`
fits one on its validation problems.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from ranker.order import DEFECT_PENALTY
from ranker.signals.types import Signals

CALIBRATION_FILE = "calibration.json"
CALIBRATION_FORMAT = "toppass-calibration/1"

Mode = Literal["judged", "agreement", "none"]
MODES: tuple[Mode, ...] = get_args(Mode)
Method = Literal["isotonic", "platt"]
METHODS: tuple[Method, ...] = get_args(Method)

FLOOR = 0.01
CEILING = 0.99

MIN_PROGRAMS = 30
"""A mode with fewer calibration programs (without a certain defect) gets no map."""
MIN_PROBLEMS = 5
"""... or with programs from fewer problems."""
MIN_BLOCK = 20
"""Programs each step of an isotonic map rests on, at least (`_merge_small_blocks`)."""


class CalibrationError(ValueError):
    """A calibration that cannot be used; one line naming what is wrong."""


def calibration_mode(signals: Signals | None) -> Mode:
    """Which map applies to a problem's programs: `judged` where examples with expected results
    ran, `agreement` where only inputs without them ran, `none` where nothing ran."""
    execution = signals.execution if signals is not None else None
    if execution is None:
        return "none"
    return "judged" if execution.judged else "agreement"


def calibration_inputs(
    served: Sequence[float], counts: Sequence[float], signals: Signals | None
) -> tuple[Mode, list[float], list[bool]]:
    """(mode, the score each program is calibrated on, whether it was served last for a
    certain defect) from a problem's `served` scores (`served_with_signals`), the answers
    each program stands for (`counts`) and the signals it was served with."""
    if len(served) != len(counts):
        raise ValueError(f"{len(served)} scores for {len(counts)} counts")
    mode = calibration_mode(signals)
    defect = [score < -DEFECT_PENALTY / 2 for score in served]
    if mode == "judged":
        return mode, [float(s) for s in served], defect
    mean = sum(counts) / len(counts) if counts else 1.0
    shift = math.log(max(float(mean), 1.0))
    return mode, [float(s) - shift for s in served], defect


def _clip(p: float) -> float:
    return min(max(p, FLOOR), CEILING)


def sigmoid(x: float) -> float:
    """The logistic function, stable for any finite x."""
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CalibrationError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ModeMap:
    """One mode's monotone map from the calibration score to a probability: isotonic (linear
    between `knots_x` / `knots_y`, flat beyond them) or Platt (sigmoid(slope * x +
    intercept), slope >= 0); what it was fitted on beside it."""

    method: Method
    knots_x: tuple[float, ...] = ()
    knots_y: tuple[float, ...] = ()
    slope: float = 0.0
    intercept: float = 0.0
    programs: int = 0
    problems: int = 0
    positives: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise CalibrationError(f"unknown calibration method {self.method!r}")
        if self.method == "isotonic":
            xs = [_finite("knots_x", x) for x in self.knots_x]
            ys = [_finite("knots_y", y) for y in self.knots_y]
            if not xs or len(xs) != len(ys):
                raise CalibrationError(
                    f"isotonic map needs as many knots_y as knots_x (at least one), "
                    f"got {len(xs)} and {len(ys)}"
                )
            if any(b < a for a, b in itertools.pairwise(xs)) or any(
                b < a for a, b in itertools.pairwise(ys)
            ):
                raise CalibrationError("isotonic knots must not decrease")
            if not all(0.0 <= y <= 1.0 for y in ys):
                raise CalibrationError("isotonic knots_y must lie in [0, 1]")
        else:
            if _finite("slope", self.slope) < 0:
                raise CalibrationError(f"Platt slope must be >= 0, got {self.slope!r}")
            _finite("intercept", self.intercept)

    def probability(self, x: float) -> float:
        """The calibrated probability of calibration score `x`, within [FLOOR, CEILING]."""
        if not math.isfinite(x):
            return FLOOR if x < 0 or math.isnan(x) else CEILING
        if self.method == "platt":
            return _clip(sigmoid(self.slope * x + self.intercept))
        xs, ys = self.knots_x, self.knots_y
        if x <= xs[0]:
            return _clip(ys[0])
        if x >= xs[-1]:
            return _clip(ys[-1])
        right = bisect.bisect_right(xs, x)
        x0, x1, y0, y1 = xs[right - 1], xs[right], ys[right - 1], ys[right]
        share = (x - x0) / (x1 - x0) if x1 > x0 else 1.0
        return _clip(y0 + share * (y1 - y0))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method}
        if self.method == "isotonic":
            out["knots_x"] = [round(x, 6) for x in self.knots_x]
            out["knots_y"] = [round(y, 6) for y in self.knots_y]
        else:
            out["slope"] = round(self.slope, 6)
            out["intercept"] = round(self.intercept, 6)
        out.update(programs=self.programs, problems=self.problems, positives=self.positives)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModeMap:
        if not isinstance(data, Mapping):
            raise CalibrationError(f"a mode's map must be an object, got {data!r}")
        known = {"method", "knots_x", "knots_y", "slope", "intercept"}
        known |= {"programs", "problems", "positives"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CalibrationError(f"unknown field(s) in a mode's map: {', '.join(unknown)}")
        try:
            return cls(
                method=data.get("method"),  # type: ignore[arg-type]
                knots_x=tuple(data.get("knots_x", ())),
                knots_y=tuple(data.get("knots_y", ())),
                slope=data.get("slope", 0.0),
                intercept=data.get("intercept", 0.0),
                programs=int(data.get("programs", 0)),
                problems=int(data.get("problems", 0)),
                positives=int(data.get("positives", 0)),
            )
        except TypeError as exc:
            raise CalibrationError(f"a mode's map is malformed: {exc}") from None


@dataclass(frozen=True)
class Calibration:
    """Per mode, the map to a calibrated probability (a mode missing: no probability there);
    `defect`: the probability of a program served last for a certain defect; `fitted_on`:
    what it was fitted on, in words; `weights`: the sha256 of the model.safetensors it was
    fitted for (None: not tied to any)."""

    modes: Mapping[str, ModeMap]
    defect: float = FLOOR
    fitted_on: str = ""
    weights: str | None = None
    notes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.modes) - set(MODES))
        if unknown:
            raise CalibrationError(f"unknown calibration mode(s): {', '.join(unknown)}")
        if not 0.0 <= _finite("defect", self.defect) <= 1.0:
            raise CalibrationError(f"defect must lie in [0, 1], got {self.defect!r}")

    def probabilities(
        self, served: Sequence[float], counts: Sequence[float], signals: Signals | None
    ) -> list[float] | None:
        """Each program's calibrated probability of being correct, from its served score
        (`calibration_inputs`); None where this calibration has no map for the mode."""
        mode, xs, defect = calibration_inputs(served, counts, signals)
        mapping = self.modes.get(mode)
        if mapping is None:
            return None
        return [
            _clip(self.defect) if bad else mapping.probability(x)
            for x, bad in zip(xs, defect, strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CALIBRATION_FORMAT,
            "fitted_on": self.fitted_on,
            "weights_sha256": self.weights,
            "defect": round(self.defect, 6),
            "modes": {mode: self.modes[mode].to_dict() for mode in MODES if mode in self.modes},
            "notes": dict(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        if not isinstance(data, Mapping):
            raise CalibrationError("a calibration must be a JSON object")
        if data.get("format") != CALIBRATION_FORMAT:
            raise CalibrationError(
                f"unsupported calibration format {data.get('format')!r} "
                f"(expected {CALIBRATION_FORMAT!r})"
            )
        modes = data.get("modes", {})
        if not isinstance(modes, Mapping):
            raise CalibrationError("'modes' must be an object")
        weights = data.get("weights_sha256")
        if weights is not None and not isinstance(weights, str):
            raise CalibrationError(f"weights_sha256 must be a string, got {weights!r}")
        notes = data.get("notes", {})
        return cls(
            modes={mode: ModeMap.from_dict(value) for mode, value in modes.items()},
            defect=data.get("defect", FLOOR),
            fitted_on=str(data.get("fitted_on", "")),
            weights=weights,
            notes=notes if isinstance(notes, Mapping) else {},
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a calibration.json; a file that is not one is a `CalibrationError` naming it."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CalibrationError(f"{path} is not readable JSON: {exc}") from None
        try:
            return cls.from_dict(data)
        except CalibrationError as exc:
            raise CalibrationError(f"{path}: {exc}") from None


def weights_digest(path: str | Path) -> str:
    """sha256 of a weights file: which weights a calibration was fitted for."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- fitting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationSample:
    """One program of a calibration problem: its mode, calibration score, whether it was served
    last for a certain defect, and whether it is correct."""

    problem: str
    mode: Mode
    x: float
    defect: bool
    label: bool
    served: float = 0.0  # the served score itself (its sigmoid: the uncalibrated probability)


def calibration_samples(
    problem: str,
    served: Sequence[float],
    counts: Sequence[float],
    signals: Signals | None,
    labels: Sequence[bool],
) -> list[CalibrationSample]:
    """A labelled problem's programs as calibration samples (`calibration_inputs`)."""
    mode, xs, defect = calibration_inputs(served, counts, signals)
    if len(labels) != len(xs):
        raise ValueError(f"{len(labels)} labels for {len(xs)} programs")
    return [
        CalibrationSample(problem, mode, x, bad, bool(label), float(score))
        for x, bad, label, score in zip(xs, defect, labels, served, strict=True)
    ]


def _fit_map(method: Method, xs: Sequence[float], ys: Sequence[bool]) -> ModeMap:
    """One monotone map fitted by `method` (a constant where the labels are all alike)."""
    import numpy as np

    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    rate = float(y.mean())
    if y.min() == y.max() or x.min() == x.max():
        return ModeMap("isotonic", (float(x.min()),), (rate,))
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(x, y)
        order = np.argsort(x, kind="stable")
        fitted = iso.predict(x[order])
        blocks: list[list[float]] = []  # [programs, correct, lowest x, highest x]
        for value, xi, yi in zip(fitted, x[order], y[order], strict=True):
            if blocks and value == blocks[-1][4]:
                blocks[-1][0] += 1
                blocks[-1][1] += yi
                blocks[-1][3] = xi
            else:
                blocks.append([1.0, yi, xi, xi, value])
        merged = _merge_small_blocks([b[:4] for b in blocks], MIN_BLOCK)
        knots_x: list[float] = []
        knots_y: list[float] = []
        for count, correct, low, high in merged:
            for edge in (low, high) if high > low else (low,):
                knots_x.append(float(edge))
                knots_y.append(float(correct / count))
        return ModeMap("isotonic", tuple(knots_x), tuple(knots_y))
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e4, max_iter=1000).fit(x.reshape(-1, 1), y)
    slope = float(model.coef_[0][0])
    if slope <= 0:  # the score does not rise with correctness here: the base rate, flat
        return ModeMap("platt", slope=0.0, intercept=math.log(rate / (1.0 - rate)))
    return ModeMap("platt", slope=slope, intercept=float(model.intercept_[0]))


def _merge_small_blocks(blocks: list[list[float]], least: int) -> list[list[float]]:
    """Isotonic blocks ([programs, correct, lowest x, highest x], by x) merged until each
    holds at least `least` programs: the smallest first, into the neighbour whose rate is
    nearer. A merged block's rate lies between its parts', so the map stays monotone; no
    probability rests on a handful of programs (a block of three right answers at the top
    would say 1.0)."""
    blocks = [list(b) for b in blocks]
    while len(blocks) > 1:
        small = min(range(len(blocks)), key=lambda i: (blocks[i][0], i))
        if blocks[small][0] >= least:
            break
        rate = blocks[small][1] / blocks[small][0]
        neighbours = [i for i in (small - 1, small + 1) if 0 <= i < len(blocks)]
        into = min(neighbours, key=lambda i: (abs(blocks[i][1] / blocks[i][0] - rate), i))
        low, high = sorted((small, into))
        a, b = blocks[low], blocks[high]
        blocks[low : high + 1] = [[a[0] + b[0], a[1] + b[1], a[2], b[3]]]
    return blocks


def _log_loss(probabilities: Sequence[float], labels: Sequence[bool]) -> float:
    return -sum(
        math.log(p if label else 1.0 - p) for p, label in zip(probabilities, labels, strict=True)
    ) / max(len(labels), 1)


def cross_validated_probabilities(
    method: Method, samples: Sequence[CalibrationSample], folds: int = 5
) -> list[float]:
    """Each sample's probability from `method` fitted on the other folds of problems (folds by
    a hash of the problem id, so one problem's programs never sit on both sides); a sample
    whose fold is all there is gets its own fold's base rate."""
    fold_of = {
        s.problem: int.from_bytes(hashlib.sha256(s.problem.encode()).digest()[:4], "big") % folds
        for s in samples
    }
    out = [0.0] * len(samples)
    for fold in range(folds):
        test = [i for i, s in enumerate(samples) if fold_of[s.problem] == fold]
        train = [s for s in samples if fold_of[s.problem] != fold]
        if not test:
            continue
        if not train:
            rate = sum(samples[i].label for i in test) / len(test)
            for i in test:
                out[i] = _clip(rate)
            continue
        mapping = _fit_map(method, [s.x for s in train], [s.label for s in train])
        for i in test:
            out[i] = mapping.probability(samples[i].x)
    return out


def fit_calibration(
    samples: Sequence[CalibrationSample],
    fitted_on: str = "",
    weights: str | None = None,
    folds: int = 5,
) -> Calibration:
    """A calibration from labelled samples: per mode with at least `MIN_PROGRAMS` programs
    (without a certain defect) from `MIN_PROBLEMS` problems, isotonic regression or Platt
    scaling, whichever has the lower log loss cross-validated over `folds` folds of problems,
    refitted on all of them; the defect probability is the rate at which programs served last
    for a defect were correct, (correct + 1) / (programs + 2)."""
    modes: dict[str, ModeMap] = {}
    notes: dict[str, Any] = {}
    for mode in MODES:
        kept = [s for s in samples if s.mode == mode and not s.defect]
        problems = len({s.problem for s in kept})
        if len(kept) < MIN_PROGRAMS or problems < MIN_PROBLEMS:
            if kept:
                notes[mode] = f"not calibrated: {len(kept)} programs from {problems} problems"
            continue
        labels = [s.label for s in kept]
        held_out = {m: cross_validated_probabilities(m, kept, folds) for m in METHODS}
        losses = {m: _log_loss(held_out[m], labels) for m in METHODS}
        best = min(METHODS, key=lambda m: (losses[m], m))
        mapping = _fit_map(best, [s.x for s in kept], labels)
        modes[mode] = ModeMap(
            mapping.method,
            mapping.knots_x,
            mapping.knots_y,
            mapping.slope,
            mapping.intercept,
            programs=len(kept),
            problems=problems,
            positives=sum(labels),
        )
        notes[mode] = {
            **{f"cross_validated_log_loss_{m}": round(losses[m], 4) for m in METHODS},
            "cross_validated_ece": round(expected_calibration_error(held_out[best], labels), 4),
            "ece_of_sigmoid_of_served_score": round(
                expected_calibration_error([sigmoid(s.served) for s in kept], labels), 4
            ),
        }
    defective = [s for s in samples if s.defect]
    defect = (sum(s.label for s in defective) + 1) / (len(defective) + 2)
    notes["defect_programs"] = len(defective)
    return Calibration(modes, defect, fitted_on, weights, notes)


# -- measuring calibration -------------------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityBin:
    """Predictions with probability in [low, high): how many, their mean, and the share of
    them that were correct."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


def reliability_bins(
    probabilities: Sequence[float], labels: Sequence[bool], bins: int = 10
) -> list[ReliabilityBin]:
    """`bins` equal-width bins over [0, 1] (the last includes 1.0); empty bins are left out."""
    if len(probabilities) != len(labels):
        raise ValueError(f"{len(probabilities)} probabilities for {len(labels)} labels")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for p, label in zip(probabilities, labels, strict=True):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probability {p!r} outside [0, 1]")
        members[min(int(p * bins), bins - 1)].append((p, bool(label)))
    return [
        ReliabilityBin(
            low=i / bins,
            high=(i + 1) / bins,
            count=len(inside),
            confidence=sum(p for p, _ in inside) / len(inside),
            accuracy=sum(label for _, label in inside) / len(inside),
        )
        for i, inside in enumerate(members)
        if inside
    ]


def expected_calibration_error(
    probabilities: Sequence[float], labels: Sequence[bool], bins: int = 10
) -> float:
    """ECE: over `bins` equal-width bins, the gap between mean probability and the share
    correct, weighted by the bin's share of the predictions."""
    total = len(probabilities)
    if total == 0:
        raise ValueError("no predictions to measure")
    return sum(
        b.count / total * abs(b.accuracy - b.confidence)
        for b in reliability_bins(probabilities, labels, bins)
    )


def brier_score(probabilities: Sequence[float], labels: Sequence[bool]) -> float:
    """Mean squared difference between probability and outcome (1 correct, 0 wrong)."""
    if len(probabilities) != len(labels):
        raise ValueError(f"{len(probabilities)} probabilities for {len(labels)} labels")
    if not probabilities:
        raise ValueError("no predictions to measure")
    return sum(
        (p - float(label)) ** 2 for p, label in zip(probabilities, labels, strict=True)
    ) / len(probabilities)
