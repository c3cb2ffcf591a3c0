"""`toppass-train eval --plots DIR`: the figures of one evaluation as PNG files.

    passk.png        ranked pass@k of the first ranker (served) for k = 1..10, against random
                     order and the oracle
    reliability.png  the reliability diagram of its probabilities: the share correct against
                     the mean probability in ten equal bins, calibrated and uncalibrated (the
                     sigmoid of the served score), with each one's ECE

matplotlib draws them off-screen (the Agg backend); it is a development dependency, so a
plain install says how to get it instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ranker.model.calibration import expected_calibration_error, reliability_bins
from train.calibration import BINS, CalibrationReport
from train.evaluate import Evaluation, diversity_of, evaluate_scores
from train.slates import Slate

if TYPE_CHECKING:
    from train.pool_eval import PoolReport

CURVE_KS: tuple[int, ...] = tuple(range(1, 11))
PASSK_FILE = "passk.png"
RELIABILITY_FILE = "reliability.png"


class PlotsUnavailable(ValueError):
    """matplotlib is not installed; one line saying how to install it."""


def require_pyplot() -> Any:
    """matplotlib's pyplot on the off-screen backend, or `PlotsUnavailable`."""
    try:
        import matplotlib
    except ImportError:
        raise PlotsUnavailable(
            "--plots needs matplotlib: pip install matplotlib (or install toppass[dev])"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def passk_curve(slates: Sequence[Slate], report: PoolReport) -> Evaluation:
    """The first ranker's ranked pass@k for k = 1..10, served as `report` measured it."""
    diversity = diversity_of(slates, report.signals).arguments() if report.options.diverse else {}
    name = report.rankers[0].name
    return evaluate_scores(name, slates, report.served, ks=CURVE_KS, bootstrap=0, **diversity)


def plot_passk(curve: Evaluation, path: Path, title: str = "") -> Path:
    """Ranked pass@k against random order and the oracle, k on the x axis."""
    plt = require_pyplot()
    ks = list(curve.ranked)
    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    try:
        axes.plot(ks, [curve.ranked[k] for k in ks], marker="o", label=Path(curve.name).name)
        axes.plot(ks, [curve.random[k] for k in ks], marker=".", linestyle="--", label="random")
        axes.plot(ks, [curve.oracle] * len(ks), linestyle=":", color="black", label="oracle")
        axes.set_xlabel("k")
        axes.set_ylabel("ranked pass@k")
        axes.set_xticks(ks)
        axes.set_ylim(0.0, 1.02)
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right")
        axes.set_title(title or f"ranked pass@k, {curve.problems} problems")
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
    return path


def plot_reliability(report: CalibrationReport, path: Path, title: str = "") -> Path:
    """The reliability diagram: per bin, the share of programs correct against their mean
    probability (the diagonal is perfect calibration), with each series' ECE in its label;
    below it, how many programs each bin holds."""
    plt = require_pyplot()
    figure, (axes, counts) = plt.subplots(
        2, 1, figsize=(5, 6.4), dpi=120, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    try:
        axes.plot([0, 1], [0, 1], linestyle=":", color="black", label="perfectly calibrated")
        series: list[tuple[str, Sequence[float | None], str]] = [
            ("sigmoid of served score", report.raw, "s--"),
            ("calibrated", report.probabilities, "o-"),
        ]
        width = 1.0 / BINS
        for offset, (label, values, style) in enumerate(series):
            kept = [i for i, p in enumerate(values) if p is not None]
            if not kept:
                continue
            probabilities = [float(values[i]) for i in kept]  # type: ignore[arg-type]
            labels = [report.labels[i] for i in kept]
            bins = reliability_bins(probabilities, labels, BINS)
            ece = expected_calibration_error(probabilities, labels, BINS)
            (line,) = axes.plot(
                [b.confidence for b in bins],
                [b.accuracy for b in bins],
                style,
                label=f"{label} (ECE {ece:.3f})",
            )
            counts.bar(
                [b.low + width * (0.25 + 0.5 * offset) for b in bins],
                [b.count for b in bins],
                width=width / 2,
                color=line.get_color(),
            )
        axes.set_xlim(0.0, 1.0)
        axes.set_ylim(0.0, 1.0)
        axes.set_ylabel("share correct")
        axes.grid(alpha=0.3)
        axes.legend(loc="upper left")
        axes.set_title(title or f"reliability, {report.programs} programs")
        counts.set_yscale("log")
        counts.set_ylabel("programs")
        counts.set_xlabel("probability (bins of 0.1; above: each bin's mean)")
        counts.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
    return path


def write_plots(
    directory: str | Path, slates: Sequence[Slate], report: PoolReport, title: str = ""
) -> list[Path]:
    """Write `PASSK_FILE` and, where the report measured probabilities, `RELIABILITY_FILE`
    into `directory` (made if missing); returns the files written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    require_pyplot()  # fail before any work where matplotlib is missing
    written = [plot_passk(passk_curve(slates, report), directory / PASSK_FILE, title)]
    if report.calibration is not None and report.calibration.programs:
        written.append(plot_reliability(report.calibration, directory / RELIABILITY_FILE, title))
    return written
