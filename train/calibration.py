"""Fitting a ranker's calibration (`ranker.model.calibration`) on labelled problems, and
measuring how well a ranker's probabilities are calibrated on a pool.

Fitting serves every problem in each mode the editor serves in, so that one set of held-out
problems calibrates all three maps:

    judged     its visible tests run in the sandbox (problems that have some)
    agreement  the same tests' calls run with their expected values withheld, as proposed
               inputs: they judge nothing and only say which programs agree (the editor's
               typed or proposed inputs stand in the same place)
    none       nothing run

Runs are cached as `toppass-train eval`'s are; frozen-backbone rankers score from `fit`'s
embedding cache.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ranker.examples import call_and_expected
from ranker.model.calibration import (
    MODES,
    Calibration,
    CalibrationSample,
    brier_score,
    calibration_mode,
    calibration_samples,
    expected_calibration_error,
    fit_calibration,
    sigmoid,
    weights_digest,
)
from ranker.order import finite, order_by_score, serve
from ranker.signals.types import Signals
from train.data import Progress
from train.evaluate import served_slate_scores
from train.problems import Problem
from train.slates import Slate

BINS = 10


@dataclass(frozen=True)
class CalibrateOptions:
    """execution: also calibrate the judged and agreement modes (runs the programs in the
    sandbox); cache_dir: the embedding cache for frozen-backbone rankers (None: run the
    backbone on every program)."""

    execution: bool = True
    workers: int = 2
    batch_size: int = 32
    cache_dir: Path | None = None
    device: str = "auto"


def withheld_problems(problems: Mapping[str, Problem]) -> dict[str, Problem]:
    """Function problems with visible tests, as problems whose examples show no expected
    value: each test's call becomes a proposed input (run for agreement only)."""
    out = {}
    for task_id, problem in problems.items():
        if not problem.entry_point or not problem.visible_tests:
            continue
        calls = [pair[0] for pair in map(call_and_expected, problem.visible_tests) if pair]
        if calls:
            out[task_id] = dataclasses.replace(
                problem, visible_tests=(), proposed_inputs=(*calls, *problem.proposed_inputs)
            )
    return out


def _samples(
    slates: Sequence[Slate],
    served: Sequence[Sequence[float]],
    signals: Mapping[str, Signals],
) -> list[CalibrationSample]:
    return [
        sample
        for slate, scores in zip(slates, served, strict=True)
        for sample in calibration_samples(
            slate.task_id, scores, slate.counts, signals.get(slate.task_id), slate.labels
        )
    ]


def _defects(signals: Signals, slate: Slate) -> list[str | None]:
    return list(signals.defects) if signals.defects is not None else [None] * len(slate.programs)


def calibration_data(
    ranker: Any,
    slates: Sequence[Slate],
    problems: Mapping[str, Problem],
    options: CalibrateOptions,
    progress: Progress | None = None,
    logged: Mapping[str, Signals] | None = None,
) -> list[CalibrationSample]:
    """Every program of `slates` served in each mode (see the module's docstring), as
    calibration samples. Slates with `logged` signals (the editor's feedback log,
    `train.feedback`) are served once, as they were logged, and nothing runs for them."""
    from train.scoring import ranker_scores
    from train.signals import execution_signals

    def stage(name: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        report = progress
        return lambda done, total: report(name, done, total)

    def served_in(
        subset: Sequence[Slate], signals: Mapping[str, Signals], name: str
    ) -> list[CalibrationSample]:
        head = ranker_scores(
            ranker, subset, options.batch_size, stage(name), signals, options.cache_dir
        )
        learned = ranker.config.served == "learned"
        scores = served_slate_scores(subset, head, signals, problems, learned)
        return _samples(subset, scores, signals)

    if logged is not None:  # served as logged: with the signals the editor had
        as_logged = [slate for slate in slates if slate.task_id in logged]
        slates = [slate for slate in slates if slate.task_id not in logged]
        head = ranker_scores(
            ranker,
            as_logged,
            options.batch_size,
            stage("scoring, as logged"),
            logged,
            options.cache_dir,
        )
        learned = ranker.config.served == "learned"
        served = [
            serve(
                finite(scores),
                slate.counts,
                _defects(logged[slate.task_id], slate),
                logged[slate.task_id],
                learned,
            )
            for slate, scores in zip(as_logged, head, strict=True)
        ]
        logged_samples = _samples(as_logged, served, logged)
        if not slates:
            return logged_samples
        return logged_samples + calibration_data(ranker, slates, problems, options, progress)
    samples = served_in(slates, {}, "scoring, nothing run")
    if not options.execution:
        return samples
    for name, problem_set in (
        ("visible tests", problems),
        ("visible calls, unjudged", withheld_problems(problems)),
    ):
        candidates = [slate for slate in slates if slate.task_id in problem_set]
        ran = execution_signals(
            candidates, problem_set, workers=options.workers, progress=stage(name)
        )
        ran = {task: s for task, s in ran.items() if calibration_mode(s) != "none"}
        subset = [slate for slate in candidates if slate.task_id in ran]
        if subset:
            samples += served_in(subset, ran, f"scoring, {name}")
    return samples


def calibrate_ranker(
    directory: str | Path,
    slates: Sequence[Slate],
    problems: Mapping[str, Problem],
    options: CalibrateOptions,
    fitted_on: str,
    progress: Progress | None = None,
    logged: Mapping[str, Signals] | None = None,
) -> tuple[Calibration, list[CalibrationSample]]:
    """Fit a calibration for the saved ranker in `directory` on labelled `slates` and write it
    there (calibration.json, tied to its weights); returns it and the samples it was fitted on."""
    from ranker.model.ranker import WEIGHTS_FILE, Ranker
    from train.scoring import resolve_device

    directory = Path(directory)
    ranker = Ranker.from_pretrained(directory, device=str(resolve_device(options.device)))
    samples = calibration_data(ranker, slates, problems, options, progress, logged)
    calibration = fit_calibration(
        samples, fitted_on=fitted_on, weights=weights_digest(directory / WEIGHTS_FILE)
    )
    ranker.calibration = calibration
    ranker.save_calibration(directory)
    return calibration, samples


# -- measuring -------------------------------------------------------------------------------


def _measures(probabilities: Sequence[float], labels: Sequence[bool]) -> dict[str, float]:
    return {
        "ece": round(expected_calibration_error(probabilities, labels, BINS), 4),
        "brier": round(brier_score(probabilities, labels), 4),
    }


@dataclass
class CalibrationReport:
    """How well a ranker's probabilities match its candidates' labels on a pool: over every
    distinct program, over each problem's first-ranked program (the one the low-confidence
    warning reads), and per mode. `uncalibrated` is the sigmoid of the served score (the number
    titles show without a calibration); `calibrated` the calibration's probability, over the
    programs of the problems whose mode it calibrates (None without a calibration)."""

    programs: int
    problems: int
    labels: list[bool] = field(repr=False)
    raw: list[float] = field(repr=False)
    probabilities: list[float | None] = field(repr=False)
    first: list[int] = field(repr=False)  # positions of each problem's first-ranked program
    modes: list[str] = field(repr=False)

    def _summary(self, values: Sequence[float | None]) -> dict[str, Any] | None:
        kept = [i for i, p in enumerate(values) if p is not None]
        if not kept:
            return None
        firsts = [i for i in self.first if values[i] is not None]
        probabilities = [float(values[i]) for i in kept]  # type: ignore[arg-type]
        out: dict[str, Any] = {
            "programs": len(kept),
            **_measures(probabilities, [self.labels[i] for i in kept]),
        }
        if firsts:
            first = _measures(
                [float(values[i]) for i in firsts],  # type: ignore[arg-type]
                [self.labels[i] for i in firsts],
            )
            out |= {"first_ranked_ece": first["ece"], "first_ranked_brier": first["brier"]}
            out["first_ranked_problems"] = len(firsts)
        return out

    def to_json(self) -> dict[str, Any]:
        by_mode: dict[str, Any] = {}
        for mode in MODES:
            rows = [i for i, m in enumerate(self.modes) if m == mode]
            if not rows:
                continue
            entry: dict[str, Any] = {
                "programs": len(rows),
                "uncalibrated": _measures(
                    [self.raw[i] for i in rows], [self.labels[i] for i in rows]
                ),
            }
            calibrated = [self.probabilities[i] for i in rows]
            if all(p is not None for p in calibrated):
                entry["calibrated"] = _measures(
                    [float(p) for p in calibrated if p is not None],
                    [self.labels[i] for i in rows],
                )
            by_mode[mode] = entry
        return {
            "bins": BINS,
            "programs": self.programs,
            "problems": self.problems,
            "uncalibrated": self._summary(self.raw),
            "calibrated": self._summary(self.probabilities),
            "by_mode": by_mode,
        }


def calibration_report(
    calibration: Calibration | None,
    slates: Sequence[Slate],
    served: Sequence[Sequence[float]],
    signals: Mapping[str, Signals],
) -> CalibrationReport:
    """Probabilities of every program of `slates` from their `served` scores (as
    `ranker.offer` gives them to the editor) beside their labels."""
    labels: list[bool] = []
    raw: list[float] = []
    probabilities: list[float | None] = []
    first: list[int] = []
    modes: list[str] = []
    for slate, scores in zip(slates, served, strict=True):
        slate_signals = signals.get(slate.task_id)
        calibrated = (
            calibration.probabilities(scores, slate.counts, slate_signals)
            if calibration is not None
            else None
        )
        if scores:
            first.append(len(labels) + order_by_score(scores)[0])
        labels += [bool(label) for label in slate.labels]
        raw += [sigmoid(score) for score in scores]
        probabilities += calibrated if calibrated is not None else [None] * len(scores)
        modes += [calibration_mode(slate_signals)] * len(scores)
    return CalibrationReport(len(labels), len(slates), labels, raw, probabilities, first, modes)
