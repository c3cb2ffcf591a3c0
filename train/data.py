"""Problems, slates and signals as the commands load them: problem sets merged from several
specs, a pool's slates (an unlabelled pool labelled first, resumably), the signals
(execution on visible tests, likelihood feature files) that go with them, and what a fit
learns from (`fit_data`: pools and the editor's feedback log, split for validation)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ranker.signals.types import Signals
from train.jsonl import DataError
from train.problems import Problem
from train.slates import Slate, SlateSet

Progress = Callable[[str, int, int], None]
"""(stage, done, total)."""


def load_problem_sets(specs: Sequence[str]) -> dict[str, Problem]:
    """The problems of every spec (`train.loaders.load_problems`), later specs winning."""
    from train.loaders import load_problems

    merged: dict[str, Problem] = {}
    for spec in specs:
        merged.update(load_problems(spec))
    return merged


def default_labelled_path(pool: Path) -> Path:
    """Where an unlabelled pool is labelled first: beside it, `<name>.labelled.jsonl`."""
    return pool.with_name(pool.name.removesuffix(".gz").removesuffix(".jsonl") + ".labelled.jsonl")


def load_slates(
    pool_path: Path,
    problems: dict[str, Problem],
    label_into: Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> SlateSet:
    """Slates of a labelled pool. An unlabelled pool is refused, or, with `label_into`, first
    labelled there (resumable: finished labels are kept)."""
    from train.pools import read_pool
    from train.slates import build_slates

    pool = read_pool(pool_path)
    if not pool.labelled:
        if label_into is None:
            raise DataError(f"{pool_path} is not labelled: run `toppass-train label` first")
        from train.labelling import default_cache_path, label_pool

        total = [0]
        done = [0]

        def started(n: int) -> None:
            total[0] = n
            if progress is not None:
                progress("labelling", 0, n)

        def advanced(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress("labelling", done[0], total[0])

        label_pool(
            problems,
            pool_path,
            label_into,
            workers=workers,
            cache_path=default_cache_path(),
            on_start=started,
            on_progress=advanced,
        )
        pool = read_pool(label_into)
    return build_slates(pool, problems)


def slate_signals(
    slates: Sequence[Slate],
    problems: dict[str, Problem],
    execution: bool,
    likelihood: Sequence[Path] | None,
    workers: int,
    progress: Progress | None = None,
) -> dict[str, Signals]:
    """Signals per task: execution on visible tests (sandbox, cached) and likelihood rows
    from feature files."""
    from train.likelihood_features import read_likelihood_features
    from train.signals import execution_signals, with_likelihood

    signals: dict[str, Signals] = {}
    if execution:
        signals = execution_signals(
            slates,
            problems,
            workers=workers,
            progress=(lambda done, total: progress("visible tests", done, total))
            if progress is not None
            else None,
        )
    for path in likelihood or []:
        if not path.is_file():
            raise DataError(f"{path}: no such likelihood feature file")
        signals = with_likelihood(slates, signals, read_likelihood_features(path))
    return with_cross_model_signals(slates, problems, signals)


def with_cross_model_signals(
    slates: Sequence[Slate], problems: dict[str, Problem], signals: dict[str, Signals]
) -> dict[str, Signals]:
    """Each slate's signals with what every pool carries whatever model wrote it: sample
    counts (where the answers were independent samples), static defects and the generator's
    log-probabilities (where recorded). Read only by rankers with those feature groups."""
    from ranker.signals.defects import static_defects

    out = dict(signals)
    for slate in slates:
        base = out.get(slate.task_id, Signals())
        entry_point = problems[slate.task_id].entry_point
        out[slate.task_id] = dataclasses.replace(
            base,
            counts=list(slate.counts) if slate.independent else None,
            defects=static_defects(slate.problem, slate.programs, entry_point),
            generator=list(slate.logprobs) if slate.logprobs else None,
        )
    return out


def tests_that_do_not_compile(problems: dict[str, Problem]) -> list[tuple[str, str]]:
    """(task id, why) for each function problem whose tests or visible tests are not valid
    Python: every candidate would fail them, whatever it does."""
    broken = []
    for task, problem in problems.items():
        for what, source in (
            ("tests", problem.tests),
            ("setup", problem.setup),
            *(("visible test", test) for test in problem.visible_tests),
        ):
            try:
                compile(source, f"<{task} {what}>", "exec")
            except SyntaxError as exc:
                broken.append((task, f"{what}: line {exc.lineno}: {exc.msg}"))
                break
            except ValueError as exc:  # a null byte
                broken.append((task, f"{what}: {exc}"))
                break
    return broken


@dataclass
class FitData:
    """What a fit learns from (`train`) and picks its epoch on (`val`); `logged`: the signals
    of the feedback log's slates, as the editor served them (nothing runs for those)."""

    train: list[Slate] = field(default_factory=list)
    val: list[Slate] = field(default_factory=list)
    logged: dict[str, Signals] = field(default_factory=dict)

    @property
    def from_pools(self) -> list[Slate]:
        """The slates that came from pools: their signals are computed (`slate_signals`); the
        log's come with it (`logged`)."""
        return [s for s in [*self.train, *self.val] if s.task_id not in self.logged]


def fit_data(
    problems: dict[str, Problem],
    train: Sequence[Path],
    val: Path | None,
    val_split: float,
    feedback: Sequence[Path],
    load: Callable[[Path], SlateSet],
    say: Callable[[str], Any] = lambda _: None,
) -> FitData:
    """The training and validation slates of `train`'s pools and `feedback`'s logs: validation
    from `val`'s pool, or else `val_split` of the training problems held out. `load` reads one
    pool (the command's, with its progress); `say` gets the feedback log's summary."""
    if not train and not feedback:
        raise DataError("pass --train POOL (labelled) or --feedback LOG, or both")
    if (train or val is not None) and not problems:
        raise DataError("--train and --val need --problems (the problems the pools refer to)")
    data = FitData()
    for pool in train:
        data.train += load(pool).slates
    if feedback:
        from train.feedback import feedback_slates, read_logs

        logged = feedback_slates(read_logs(feedback))
        say(logged.summary())
        data.train += logged.slates
        data.logged = logged.signals
    if val is not None:
        data.val = load(val).slates
    elif 0.0 < val_split < 1.0:
        from train.slates import split_by_task

        data.train, data.val = split_by_task(data.train, val_split)
    else:
        raise DataError(
            "pass --val (a labelled pool of problems disjoint from --train) or "
            "--val-split F (hold out a fraction of the training problems)"
        )
    return data
