"""`toppass-train eval` as a plain function: every ordering of a pool's slates evaluated in one
run, with bootstrap intervals. Rankers are ranked as they are served (`ranker.order`: with
execution features where the ranker has them and, diverse, one program per behaviour cluster
first; where nothing ran, defects last and sample counts added), and as the editor offers
them (`ranker.offer`: the bodies as applied, run on the docstring's examples). Beside them:
length-only (longest first), sample-count (defects last, most often sampled first), the
generator's likelihood (where the pool recorded it), the no-learning execution order (served
the same way), random order and the oracle. The first ranker's probabilities (the sigmoid of
its served score, and its calibrated probability where it has a calibration) are measured
against the labels (`train.calibration`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ranker.signals.types import Signals
from train.calibration import CalibrationReport, calibration_report
from train.data import Progress, slate_signals
from train.evaluate import (
    Evaluation,
    diversity_of,
    evaluate_orders,
    evaluate_scores,
    execution_scores,
    generator_likelihood_scores,
    length_scores,
    offered_labels,
    paired_difference,
    sample_count_scores,
    served_slate_scores,
)
from train.problems import Problem
from train.slates import Slate


@dataclass(frozen=True)
class EvalOptions:
    """execution: run the programs on the problems' visible tests (features, the diverse order,
    the execution baseline). diverse: one program per behaviour cluster first. offered: also
    rank as the editor offers (bodies as applied; their examples run where `execution`).
    likelihood: feature files (`toppass-train likelihood`). cache_dir: the embedding cache for
    frozen-backbone rankers (None: run the backbone on every program)."""

    execution: bool = True
    diverse: bool = True
    offered: bool = True
    likelihood: Sequence[Path] = ()
    workers: int = 2
    bootstrap: int = 1000
    batch_size: int = 32
    cache_dir: Path | None = None
    device: str = "auto"


@dataclass
class PoolReport:
    """The evaluations of one run: each ranker served (`rankers`), offered as in the editor
    (`offered`, same order), the baselines, and what the run had to go on."""

    rankers: list[Evaluation]
    offered: list[Evaluation]
    baselines: list[Evaluation]
    signals: Mapping[str, Signals]
    with_logprobs: int
    problems: int
    options: EvalOptions
    settings: dict[str, Any] = field(default_factory=dict)
    served: list[list[float]] = field(default_factory=list)  # the first ranker's, per slate
    calibration: CalibrationReport | None = None  # the first ranker's probabilities

    def judged_and_typed(self) -> tuple[int, int]:
        ran = [s.execution for s in self.signals.values() if s.execution is not None]
        judged = sum(1 for e in ran if e.judged)
        return judged, len(ran) - judged

    def versus(self) -> dict[str, dict[str, dict[str, list[float]]]]:
        """Each ranker (served) against each baseline: per k, the mean per-problem difference
        and its paired 95% bootstrap interval, `[difference, low, high]`."""
        return {
            ranker.name: {
                baseline.name: {
                    f"pass@{k}": [round(v, 4) for v in values]
                    for k, values in paired_difference(
                        ranker, baseline, self.options.bootstrap
                    ).items()
                }
                for baseline in self.baselines
            }
            for ranker in self.rankers
        }

    def to_json(self) -> dict[str, Any]:
        """The first ranker's evaluation, with the baselines' and the offered order's ranked
        pass@k beside it and the other rankers whole."""
        main, *others = self.rankers
        payload = main.to_json()
        if self.offered:
            payload["offered"] = self.offered[0].to_json()
        payload["baselines"] = {b.name: b.to_json()["ranked"] for b in self.baselines}
        payload["others"] = [o.to_json() for o in others]
        payload["versus"] = self.versus()
        if self.calibration is not None:
            payload["calibration"] = self.calibration.to_json()
        judged, typed = self.judged_and_typed()
        payload["settings"] = {
            "execution": self.options.execution,
            "diverse": self.options.diverse,
            "likelihood": [str(p) for p in self.options.likelihood],
            "problems_with_visible_tests": judged,
            "problems_with_typed_inputs": typed,
            "problems_with_generator_logprobs": self.with_logprobs,
        }
        return payload


def evaluate_pool(
    slates: Sequence[Slate],
    problems: Mapping[str, Problem],
    ranker_dirs: Sequence[str],
    options: EvalOptions,
    progress: Progress,
) -> PoolReport:
    """Every ordering of `slates` (see the module's docstring); `progress(stage, done, total)`
    as work finishes."""
    from ranker.model.ranker import Ranker
    from train.scoring import ranker_scores, resolve_device

    signals = slate_signals(
        slates,
        dict(problems),
        options.execution,
        options.likelihood,
        options.workers,
        progress,
    )
    diversity = diversity_of(slates, signals).arguments() if options.diverse else {}
    evaluate: Callable[..., Evaluation] = partial(evaluate_scores, bootstrap=options.bootstrap)
    rankers: list[Evaluation] = []
    offered: list[Evaluation] = []
    served: list[list[float]] = []
    calibration: CalibrationReport | None = None
    runner = _example_runner(options) if options.offered and options.execution else None
    try:
        for name in ranker_dirs:
            model = Ranker.from_pretrained(name, device=str(resolve_device(options.device)))
            head = ranker_scores(
                model,
                slates,
                options.batch_size,
                partial(progress, f"scoring with {Path(name).name}"),
                signals,
                options.cache_dir,
            )
            learned = model.config.served == "learned"
            scores = served_slate_scores(slates, head, signals, problems, learned)
            if not rankers:  # the first ranker's probabilities, calibrated where it can
                served = scores
                calibration = calibration_report(model.calibration, slates, scores, signals)
            rankers.append(evaluate(name, slates, scores, **diversity))
            if options.offered:
                labels = offered_labels(
                    model,
                    slates,
                    problems,
                    runner,
                    partial(progress, f"as offered, {Path(name).name}"),
                )
                if any(order is not None for order in labels):  # not for stdin/stdout problems
                    offered.append(
                        evaluate_orders(
                            f"{name} as offered", slates, labels, bootstrap=options.bootstrap
                        )
                    )
    finally:
        if runner is not None:
            runner.close()
    baselines = [
        evaluate("length-only", slates, length_scores(slates)),
        evaluate("sample-count", slates, sample_count_scores(slates, problems, signals)),
    ]
    with_logprobs = sum(1 for slate in slates if slate.logprobs)
    if with_logprobs:
        baselines.append(
            evaluate(
                "generator-likelihood",
                slates,
                generator_likelihood_scores(slates, problems, signals),
            )
        )
    if options.execution:
        baselines.append(
            evaluate(
                "execution",
                slates,
                served_slate_scores(slates, execution_scores(slates, signals), signals, problems),
                **diversity,
            )
        )
    report = PoolReport(rankers, offered, baselines, signals, with_logprobs, len(slates), options)
    report.served, report.calibration = served, calibration
    return report


def _example_runner(options: EvalOptions) -> Any:
    """The editor's example runner, with its runs kept in the visible-runs cache that
    `execution_signals` uses (runs are keyed by program and probes)."""
    from ranker.signals.examples_run import ExampleRunner
    from ranker.signals.execution import RunCache
    from train.signals import default_runs_cache

    return ExampleRunner(workers=options.workers, cache=RunCache(default_runs_cache()))
