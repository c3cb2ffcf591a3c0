"""`toppass-train`: a thin typer shell over the training toolkit's functions.

Progress goes to stderr (rich), results to stdout or files; a user error is one line on
stderr and exit code 1.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ranker.version import VersionOption

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Train and evaluate toppass rankers.",
)
stderr = Console(stderr=True)
stdout = Console()


def fail(message: str) -> typer.Exit:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the toolkit's known error types into one line and exit code 1."""
    from ranker.model.config import RankerConfigError
    from ranker.sandbox import SandboxError
    from train.fit import FitError
    from train.jsonl import DataError

    try:
        yield
    except (DataError, RankerConfigError, FitError, SandboxError, ValueError) as exc:
        raise fail(str(exc)) from None


PLAIN_PROGRESS_SECONDS = 10.0
"""How often a long stage prints a progress line where stderr is not a terminal."""


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A `progress(stage, done, total)` callback drawing one bar per stage on stderr; where
    stderr is not a terminal (a log file, CI), a plain line per stage every
    `PLAIN_PROGRESS_SECONDS` and when it completes, since rich would draw only at the end."""
    if not stderr.is_terminal:
        yield plain_progress(stderr.file, PLAIN_PROGRESS_SECONDS)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield report


@app.callback()
def main_options(
    version: VersionOption = False,
) -> None:
    """Train and evaluate toppass rankers."""
    from ranker.local_models import LocalModelError, precision_choice

    try:
        precision_choice()  # before any work: a typo in TOPPASS_PRECISION is one line
    except LocalModelError as exc:
        raise fail(str(exc)) from None


def plain_progress(out: Any, every: float) -> Callable[[str, int, int], None]:
    """`progress(stage, done, total)` printing `stage: done/total (p%)` lines to `out`: a
    stage's first report, then at most one each `every` seconds, and its completion."""
    import time

    last: dict[str, float] = {}

    def report(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = total > 0 and done >= total
        if stage in last and not finished and now - last[stage] < every:
            return
        if finished and last.get(stage) == float("inf"):
            return  # its completion is printed already
        last[stage] = float("inf") if finished else now
        share = f" ({100 * done // total}%)" if total > 0 else ""
        print(f"{stage}: {done}/{total}{share}", file=out, flush=True)

    return report


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


ProblemsOption = Annotated[
    list[str],
    typer.Option(
        "--problems",
        help="Problem set(s) the pools refer to: humaneval, mbpp, mbpp-plus, humaneval-plus, "
        "apps, codecontests, or a JSONL path. Repeat for several.",
    ),
]

LikelihoodOption = Annotated[
    list[Path] | None,
    typer.Option(
        help="Likelihood feature file (toppass-train likelihood); repeatable. Features for "
        "rankers trained with the likelihood group; eval also serves the reviewer score as "
        "the editor's reviewerTieBreak does (breaking execution ties, and in the text score's "
        "place where nothing ran or nothing was judged)."
    ),
]


@app.command()
def info() -> None:
    """Show the default ranker configuration and where its backbone comes from."""
    from ranker import RankerConfig
    from ranker.model.backbone import resolve_backbone

    config = RankerConfig()
    typer.echo(json.dumps(config.to_dict(), indent=2))
    typer.echo(f"backbone resolves to: {resolve_backbone(config.backbone)}")


@app.command()
def generate(
    problems: Annotated[
        str, typer.Option(help="Problem set: a benchmark name, NAME:PATH or a problem file.")
    ],
    out: Annotated[Path, typer.Option(help="Pool to append answers to (resumed if present).")],
    n: Annotated[int, typer.Option("--n", help="Answers per problem.", min=1)] = 10,
    provider: Annotated[str, typer.Option(help="local (SmolLM2 by default) or openai.")] = "local",
    model: Annotated[
        str | None,
        typer.Option(help="openai: model name; local: model directory or .gguf (default SmolLM2)."),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="openai: endpoint (default OPENAI_BASE_URL or OpenAI).")
    ] = None,
    api: Annotated[str, typer.Option(help="openai: chat or completions.")] = "chat",
    honours_n: Annotated[str, typer.Option(help="openai: auto, yes or no.")] = "auto",
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.8,
    max_tokens: Annotated[int, typer.Option(help="New tokens per answer.")] = 384,
    time_budget: Annotated[float, typer.Option(help="Seconds per problem.")] = 300.0,
    seed: Annotated[int, typer.Option(help="Base seed (answer i of a problem: fixed seed).")] = 0,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
    task: Annotated[
        list[str] | None, typer.Option(help="Only these task ids (repeatable).")
    ] = None,
    device: Annotated[
        str, typer.Option(help="local: where the model runs (cpu, cuda, cuda:1 ...).")
    ] = "cpu",
    batch_size: Annotated[
        int,
        typer.Option(help="local: answers sampled at once (16 on a CPU; more on a GPU).", min=1),
    ] = 16,
    straggler_cut: Annotated[
        bool,
        typer.Option(
            "--straggler-cut/--no-straggler-cut",
            help="local: once most of a batch's answers have ended, cut those still going "
            "far longer (generation.stragglers), as the server does (--no-straggler-cut: every "
            "answer to --max-tokens, e.g. to measure the rule with "
            "benchmarks/local_stragglers.py).",
        ),
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Sample N candidates per problem with the provider code the server uses (API key from
    OPENAI_API_KEY). Answers are appended as they come; rerun to resume."""
    _setup_logging(verbose)
    import asyncio

    with user_errors():
        from generation.factory import make_provider
        from generation.provider import SamplingOptions
        from generation.stragglers import DEFAULT_STRAGGLERS
        from train.generate import generate_pool
        from train.loaders import load_problems

        problem_set = load_problems(problems)
        if task:
            unknown = [t for t in task if t not in problem_set]
            if unknown:
                raise ValueError(f"unknown task id(s) in {problems}: {', '.join(unknown)}")
            problem_set = {t: problem_set[t] for t in task}
        if limit is not None:
            problem_set = dict(list(problem_set.items())[:limit])
        options = SamplingOptions(temperature, max_tokens, time_budget, seed)
        if provider == "openai" and model is None:
            raise ValueError("--provider openai needs --model")
        if provider == "local":
            from train.scoring import resolve_device

            device = str(resolve_device(device))  # an unknown device: one line, before loading
        sampler: Any = make_provider(
            provider,
            options,
            model=model,
            base_url=base_url,
            api=api,
            honours_n=honours_n,
            device=device,
            batch_size=batch_size,
            stragglers=DEFAULT_STRAGGLERS if straggler_cut else None,
        )
        model_name, api_name = (
            (str(sampler.name), "local") if provider == "local" else (str(model), api)
        )

        async def run() -> Any:
            try:
                with progress_bar() as report:
                    return await generate_pool(
                        problem_set,
                        sampler,
                        n,
                        out,
                        model_name=model_name,
                        api=api_name,
                        options=options,
                        seed=seed,
                        progress=partial(report, f"sampling ({model_name})"),
                    )
            finally:
                await sampler.aclose()

        try:
            stats = asyncio.run(run())
        except KeyboardInterrupt:
            stderr.print("interrupted: answers so far are in the output; rerun to resume")
            raise typer.Exit(130) from None
    for message in stats.failed[:5]:
        stderr.print(f"failed: {message}", highlight=False, markup=False)
    typer.echo(
        f"wrote {stats.written} answers for {stats.problems} problems to {out} "
        f"({stats.already_done} already there, {len(stats.failed)} problems failed)"
    )
    if stats.failed and not stats.written:
        raise typer.Exit(1)


@app.command()
def label(
    problems: Annotated[
        str,
        typer.Option(
            help="humaneval, humaneval-plus, mbpp, mbpp-sanitized, mbpp-plus, apps, "
            "codecontests, NAME:PATH, or a problem file (schema recognised)"
        ),
    ],
    pool: Annotated[Path, typer.Option(help="candidate pool, JSONL (.gz)")],
    out: Annotated[Path, typer.Option(help="labelled pool to append to (resumed if present)")],
    workers: Annotated[
        int, typer.Option(help="candidates run at once", min=1, max=256)
    ] = os.cpu_count() or 1,
    timeout: Annotated[
        float,
        typer.Option(help="seconds per candidate (stdio: per test), at most an hour", max=3600.0),
    ] = 3.0,
    memory: Annotated[
        int, typer.Option(help="address-space limit per candidate, MiB (at least 64)", min=64)
    ] = 4096,
    cache: Annotated[
        Path | None,
        typer.Option(
            help="verdict cache (default: label-cache.jsonl in $XDG_CACHE_HOME/toppass, "
            "else in ~/.cache/toppass)"
        ),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="run every program")] = False,
    strict: Annotated[
        bool,
        typer.Option(help="stop at the first bad pool line or unknown task instead of skipping"),
    ] = False,
) -> None:
    """Label a candidate pool by running every candidate against its problem's tests in the
    sandbox. Rows are appended to --out as they finish; rerun the same command to resume."""
    from ranker.sandbox import Limits, SandboxError
    from train.jsonl import DataError
    from train.labelling import default_cache_path, label_pool
    from train.loaders import load_problems

    console = stderr
    try:
        if not timeout > 0:  # click's range lets nan through
            raise ValueError(f"--timeout must be a number of seconds above 0, got {timeout!r}")
        _check_output_paths(pool, out, None if no_cache else cache)
        limits = Limits(timeout=timeout, memory=memory << 20)
        problem_set = load_problems(problems)
        _check_tests_compile(problem_set)
        with progress_bar() as report:
            counts = [0, 0]  # done, total

            def started(total: int) -> None:
                counts[1] = total
                report("labelling", 0, total)

            def advanced(n: int) -> None:
                counts[0] += n
                report("labelling", counts[0], counts[1])

            stats = label_pool(
                problem_set,
                pool,
                out,
                workers=workers,
                limits=limits,
                cache_path=None if no_cache else (cache or default_cache_path()),
                strict=strict,
                on_start=started,
                on_progress=advanced,
            )
    except (DataError, SandboxError, ValueError) as exc:
        console.print(f"error: {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("interrupted: finished labels are in the output; rerun to resume")
        raise typer.Exit(130) from None
    for message in stats.skipped[:5]:
        console.print(f"skipped: {message}", highlight=False, markup=False)
    if len(stats.skipped) > 5:
        console.print(f"skipped: ... and {len(stats.skipped) - 5} more", highlight=False)
    typer.echo(
        f"labelled {stats.labelled} candidates ({stats.passed} passed) into {out}: "
        f"{stats.executed} run, {stats.from_cache} from cache, {stats.dropped} not a program, "
        f"{stats.already_done} already done, {len(stats.skipped)} skipped"
    )


@app.command()
def likelihood(
    problems: ProblemsOption,
    pool: Annotated[Path, typer.Option(help="Labelled pool whose programs to score.")],
    out: Annotated[Path, typer.Option(help="Feature file to append to (resumed if present).")],
    model: Annotated[
        str | None, typer.Option(help="Causal LM folder or .gguf (default: SmolLM2-135M).")
    ] = None,
    precision: Annotated[str, typer.Option(help="float32, bfloat16 or int8.")] = "float32",
    device: Annotated[str, typer.Option(help="cpu, cuda ...")] = "cpu",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Score every distinct program of a pool with a causal LM (coder: log p(body | prompt),
    reviewer: log p(docstring | code)) into a feature file for `fit --features likelihood`
    and `eval --likelihood`. No program runs."""
    _setup_logging(verbose)
    with user_errors():
        from ranker.signals.likelihood import LikelihoodScorer
        from train.likelihood_features import compute_likelihood_features

        problem_set = _load_problems(problems)
        slates = _slates(pool, problem_set).slates
        scorer = LikelihoodScorer(model, device, precision=precision)  # type: ignore[arg-type]
        with progress_bar() as report:
            report("loading the language model", 0, 1)
            scorer.load()
            rows = compute_likelihood_features(
                slates,
                problem_set,
                scorer,
                out,
                lambda done, total, _scored: report("scoring programs", done, total),
            )
    stderr.print(f"{len(rows)} programs scored in {out}")


FeedbackOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--feedback",
        help="The editor's feedback log (feedbackLog: feedback.jsonl under the state "
        "directory, and feedback.jsonl.1 beside it); repeatable.",
    ),
]


@app.command()
def fit(
    out: Annotated[Path, typer.Option(help="Run directory: the trained ranker and its records.")],
    train: Annotated[
        list[Path] | None, typer.Option("--train", help="Labelled training pool(s).")
    ] = None,
    problems: Annotated[
        list[str] | None,
        typer.Option(
            "--problems",
            help="Problem set(s) the pools refer to (as for eval); not needed with --feedback "
            "alone. Repeat for several.",
        ),
    ] = None,
    feedback: Annotated[
        list[Path] | None,
        typer.Option(
            "--feedback",
            help="Also train on the editor's feedback log (feedbackLog): the candidate the "
            "user kept is correct, those replaced or passed over incorrect; repeatable.",
        ),
    ] = None,
    init: Annotated[
        Path | None,
        typer.Option(
            help="Fine-tune this saved ranker (its own config; --backbone, --features and the "
            "other model options are ignored) instead of a new head."
        ),
    ] = None,
    val: Annotated[
        Path | None, typer.Option(help="Labelled validation pool (picks the checkpoint).")
    ] = None,
    val_split: Annotated[
        float,
        typer.Option(
            help="Without --val: hold out this fraction of the training problems (fixed by "
            "task id) to pick the checkpoint, so no evaluation pool steers training."
        ),
    ] = 0.0,
    loss: Annotated[str, typer.Option(help="passk (Top Pass), bce (CodeRanker) or mix.")] = "passk",
    ks: Annotated[str, typer.Option(help="Comma-separated k of the pass@k loss.")] = "1,2,3,5",
    surrogate: Annotated[
        str, typer.Option(help="squared_hinge, hinge or logistic.")
    ] = "squared_hinge",
    margin: Annotated[float, typer.Option(help="Margin of the surrogate.")] = 1.0,
    top_positives: Annotated[
        int, typer.Option(help="Positives per problem that get gradient (0: all).")
    ] = 3,
    bce_weight: Annotated[float, typer.Option(help="Weight of BCE in --loss mix.")] = 0.5,
    backbone: Annotated[
        str | None,
        typer.Option(help="Backbone: package:<module>, a model directory, a .gguf file or hub id."),
    ] = None,
    freeze_backbone: Annotated[
        bool, typer.Option("--freeze-backbone/--tune-backbone", help="Train only the head.")
    ] = True,
    trainable_layers: Annotated[
        int, typer.Option(help="With --tune-backbone: top layers to train (-1: all).")
    ] = 2,
    template: Annotated[str, typer.Option(help="Input template: plain or structured.")] = "plain",
    features: Annotated[
        str,
        typer.Option(
            help="Comma-separated feature groups beside the text: execution (visible tests run "
            "in the sandbox), likelihood (needs --likelihood files), sampling (counts of "
            "independent samples), agreement (behaviour shares), defects, generator "
            "(its log-probabilities). Empty: text only."
        ),
    ] = "",
    likelihood: LikelihoodOption = None,
    text_with_execution: Annotated[
        bool,
        typer.Option(
            "--text-with-execution/--text-without-execution",
            help="With --features execution: whether the head also reads the text of programs "
            "whose examples ran (--text-without-execution: text only where nothing ran).",
        ),
    ] = True,
    text: Annotated[
        bool,
        typer.Option(
            "--text/--no-text",
            help="--no-text: the head reads the feature groups alone (no backbone, no text).",
        ),
    ] = True,
    served: Annotated[
        str,
        typer.Option(
            help="policy: the serving rules add defects and counts to the head's score; "
            "learned: the head's own score (train it with sampling,agreement,defects)."
        ),
    ] = "policy",
    head_hidden: Annotated[
        str | None,
        typer.Option(
            help="Widths of the score head's hidden layers, comma-separated (default: one "
            "of 256); empty: a linear head, whose weights are what it weighs."
        ),
    ] = None,
    group_dropout: Annotated[
        float,
        typer.Option(help="Chance a feature group is hidden from a training problem."),
    ] = 0.3,
    text_dropout: Annotated[
        float,
        typer.Option(help="Chance a training problem's text is hidden from the head."),
    ] = 0.0,
    workers: Annotated[
        int, typer.Option(help="Programs run at once.", min=1, max=256)
    ] = os.cpu_count() or 1,
    epochs: Annotated[int, typer.Option(help="Passes over the training problems.")] = 30,
    lr: Annotated[float, typer.Option(help="Learning rate of the head.")] = 1e-3,
    batch_problems: Annotated[int, typer.Option(help="Problems per step.")] = 16,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = "auto",
    restart: Annotated[bool, typer.Option(help="Ignore a checkpoint in --out.")] = False,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate/--no-calibrate",
            help="Fit the saved ranker's calibration on the validation problems "
            "(calibration.json; toppass-train calibrate refits it).",
        ),
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Train a ranker with the pass@k loss (or BCE) and save the best validation epoch, with
    its calibration fitted on the validation problems."""
    _setup_logging(verbose)
    with user_errors():
        from ranker import LossConfig, RankerConfig
        from train.data import fit_data, slate_signals
        from train.fit import FitConfig, starting_config
        from train.fit import fit as run_fit
        from train.jsonl import DataError

        problem_set = _load_problems(problems) if problems else {}
        data = fit_data(
            problem_set,
            train or [],
            val,
            val_split,
            feedback or [],
            load=lambda pool: _slates(pool, problem_set),
            say=lambda line: stderr.print(line, highlight=False),
        )
        ranker_config = starting_config(
            init,
            RankerConfig(
                backbone=backbone or RankerConfig().backbone,
                input_template=template,  # type: ignore[arg-type]
                trainable_layers=0 if freeze_backbone else trainable_layers,
                features=tuple(g.strip() for g in features.split(",") if g.strip()),
                text_with_execution=text_with_execution,
                text=text,
                served=served,  # type: ignore[arg-type]  # RankerConfig names a bad one
                head_hidden=(
                    RankerConfig().head_hidden if head_hidden is None else _widths(head_hidden)
                ),
            ),
        )
        groups = ranker_config.features
        if "likelihood" in groups and not likelihood:
            raise DataError("--features likelihood needs --likelihood feature files")
        loss_config = LossConfig(
            kind=loss,  # type: ignore[arg-type]
            ks=tuple(int(k) for k in ks.split(",")),
            surrogate=surrogate,  # type: ignore[arg-type]
            margin=margin,
            top_positives=top_positives or None,
            bce_weight=bce_weight if loss == "mix" else 0.0,
        )
        config = FitConfig(
            ranker=ranker_config,
            loss=loss_config,
            epochs=epochs,
            lr=lr,
            batch_problems=batch_problems,
            seed=seed,
            device=device,
            group_dropout=group_dropout,
            text_dropout=text_dropout,
            data={
                "train": [str(p) for p in train or []],
                "feedback": [str(p) for p in feedback or []],
                "val": str(val) if val is not None else f"{val_split:g} of train",
                "problems": problems or [],
                "likelihood": [str(p) for p in likelihood or []],
            },
            init=str(init) if init is not None else None,
        )
        with progress_bar() as report:
            execution = "execution" in groups or "agreement" in groups
            used = likelihood if "likelihood" in groups else None
            signals = slate_signals(data.from_pools, problem_set, execution, used, workers, report)
            signals |= data.logged  # as the editor served them: nothing runs for those
            result = run_fit(
                config, data.train, data.val, out, report, restart=restart, signals=signals
            )
        stderr.print(f"best epoch {result.best_epoch}: saved to {out}")
        if calibrate:
            from train.calibration import CalibrateOptions

            _calibrate_and_report(
                out,
                data.val,
                problem_set,
                CalibrateOptions(
                    workers=workers,
                    cache_dir=Path(config.cache_dir),
                    device=device,
                ),
                f"the validation problems ({config.data['val']}), {len(data.val)} problems",
                data.logged,
            )
    validation = result.best_metrics["validation"]
    _print_table([validation], stdout)


@app.command()
def calibrate(
    ranker: Annotated[Path, typer.Option(help="Saved ranker directory to calibrate.")],
    problems: ProblemsOption,
    pool: Annotated[
        Path,
        typer.Option(help="Labelled pool of problems the ranker did not train on (or --split)."),
    ],
    split: Annotated[
        float,
        typer.Option(
            help="Calibrate on the fraction of the pool's problems that `fit --val-split F` "
            "holds out (fixed by task id): the ranker's own training pool, without its "
            "training problems. 0: every problem of the pool."
        ),
    ] = 0.0,
    execution: Annotated[
        bool,
        typer.Option(
            "--execution/--no-execution",
            help="Also calibrate the modes where programs ran: their visible tests (judged) "
            "and the same calls with the expected values withheld (agreement only).",
        ),
    ] = True,
    workers: Annotated[
        int, typer.Option(help="Programs run at once.", min=1, max=256)
    ] = os.cpu_count() or 1,
    batch_size: Annotated[int, typer.Option(help="Scoring batch size.", min=1)] = 32,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run the backbone on every program.")
    ] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Fit (or refit) a ranker's calibration: the probability that a candidate is correct,
    from its served score, per mode (examples judged; inputs ran unjudged; nothing ran), by
    isotonic regression or Platt scaling. Written to calibration.json in the ranker directory."""
    _setup_logging(verbose)
    with user_errors():
        from train.calibration import CalibrateOptions
        from train.embeddings import default_cache_dir
        from train.slates import split_by_task

        if not 0.0 <= split < 1.0:
            raise ValueError(f"--split must be in [0, 1), got {split!r}")
        problem_set = _load_problems(problems)
        slates = _slates(pool, problem_set).slates
        if split > 0.0:
            slates = split_by_task(slates, split)[1]
        fitted_on = f"{pool.name}" + (f", the {split:g} held out by task id" if split else "")
        options = CalibrateOptions(
            execution=execution,
            workers=workers,
            batch_size=batch_size,
            cache_dir=None if no_cache else default_cache_dir(),
            device=device,
        )
        _calibrate_and_report(
            ranker, slates, problem_set, options, f"{fitted_on}, {len(slates)} problems"
        )


def _calibrate_and_report(
    directory: Path,
    slates: list[Any],
    problems: dict[str, Any],
    options: Any,
    fitted_on: str,
    logged: dict[str, Any] | None = None,
) -> None:
    """Fit and write a ranker's calibration (`train.calibration.calibrate_ranker`), then one
    line per mode on stderr."""
    from train.calibration import calibrate_ranker

    with progress_bar() as report:
        calibration, _ = calibrate_ranker(
            directory, slates, problems, options, fitted_on, report, logged or None
        )
    for mode, mapping in calibration.modes.items():
        notes = calibration.notes.get(mode, {})
        stderr.print(
            f"{mode}: {mapping.method} on {mapping.programs} programs of {mapping.problems} "
            f"problems ({mapping.positives} correct); cross-validated ECE "
            f"{notes.get('cross_validated_ece', float('nan')):.3f} (sigmoid of the served score: "
            f"{notes.get('ece_of_sigmoid_of_served_score', float('nan')):.3f})",
            highlight=False,
        )
    for mode, note in calibration.notes.items():
        if isinstance(note, str):
            stderr.print(f"{mode}: {note}", highlight=False)
    stderr.print(f"wrote {directory / 'calibration.json'}", highlight=False)


@app.command(name="eval")
def evaluate(
    problems: Annotated[
        list[str] | None,
        typer.Option(
            "--problems",
            help="Problem set(s) the pool refers to: humaneval, mbpp, mbpp-plus, humaneval-plus, "
            "apps, codecontests, or a JSONL path. Repeat for several.",
        ),
    ] = None,
    pool: Annotated[
        Path | None, typer.Option(help="Candidate pool (labelled, or labelled here).")
    ] = None,
    feedback: FeedbackOption = None,
    top_k: Annotated[
        int,
        typer.Option(help="With --feedback: how often the kept candidate is in the top k.", min=1),
    ] = 3,
    ranker: Annotated[
        list[str] | None,
        typer.Option(
            help="Ranker directory; repeat to compare several (default: the shipped one)."
        ),
    ] = None,
    execution: Annotated[
        bool,
        typer.Option(
            "--execution/--no-execution",
            help="Run the programs on the problems' visible tests in the sandbox: features for "
            "rankers trained with them, the diverse order and the execution baseline.",
        ),
    ] = True,
    diverse: Annotated[
        bool,
        typer.Option(
            "--diverse/--no-diverse",
            help="Rank one program per behaviour cluster first (needs --execution).",
        ),
    ] = True,
    offered: Annotated[
        bool,
        typer.Option(
            "--offered/--no-offered",
            help="Also rank each problem as the editor offers it: the prompt as the user's "
            "file, the bodies as applied (with --execution, run on the docstring's examples).",
        ),
    ] = True,
    likelihood: LikelihoodOption = None,
    workers: Annotated[
        int, typer.Option(help="Programs run at once.", min=1, max=256)
    ] = os.cpu_count() or 1,
    labelled_out: Annotated[
        Path | None,
        typer.Option(
            help="Where an unlabelled --pool is labelled first (default: beside it, "
            "<name>.labelled.jsonl; resumed if present)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    bootstrap: Annotated[
        int,
        typer.Option(help="Bootstrap resamples for the 95% interval (0: no interval).", min=0),
    ] = 1000,
    batch_size: Annotated[int, typer.Option(help="Scoring batch size.", min=1)] = 32,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="Embedding cache for frozen-backbone rankers (default: the one fit uses)."
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run the backbone on every program.")
    ] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda ...")] = "auto",
    plots: Annotated[
        Path | None,
        typer.Option(
            help="Also write PNG figures here: ranked pass@k for k = 1..10 against random and "
            "oracle, and the reliability diagram of the first ranker's probabilities "
            "(needs matplotlib)."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Ranked pass@k of ranker(s) on a pool, beside random order, length-only, the execution
    baseline and the oracle; how well the first ranker's probabilities are calibrated
    (expected calibration error and Brier score).

    Rankers and the execution baseline are ranked as they are served: with execution
    features where the ranker has them and, with --diverse, one program per behaviour cluster
    first; where nothing ran, with static defects last and sample counts added
    (ranker.order); the execution baseline is served the same way. Length-only is the
    plain longest-first order; sample-count puts defects last and the most often sampled
    program first; where the pool recorded the generator's log-probabilities (`generate` does
    where the backend reports them), generator-likelihood puts defects last and the likeliest
    answer first.

    With --feedback LOG (the editor's feedbackLog) instead of --problems and --pool: how often
    the candidate the user kept was ranked #1 and in the top k, in the order the editor
    showed ("before") and in the order the first --ranker serves the same candidates, with
    the signals logged ("after")."""
    _setup_logging(verbose)
    if feedback:
        _evaluate_feedback(feedback, ranker[0] if ranker else None, top_k, device, as_json)
        return
    if not problems or pool is None:
        raise fail("pass --problems and --pool (or --feedback LOG)")
    with user_errors():
        from ranker.model.config import RankerConfigError
        from ranker.model.shipped import default_ranker_path
        from train.data import default_labelled_path
        from train.embeddings import default_cache_dir
        from train.pool_eval import EvalOptions, evaluate_pool

        if plots is not None:
            from train.plots import require_pyplot

            require_pyplot()  # before any work, where matplotlib is missing
        problem_set = _load_problems(problems)
        slates = _slates(pool, problem_set, labelled_out or default_labelled_path(pool), workers)
        shipped = default_ranker_path()
        if not ranker and shipped is None:
            raise RankerConfigError(
                "no default ranker is shipped in this install; pass --ranker DIR"
            )
        options = EvalOptions(
            execution=execution,
            diverse=diverse,
            offered=offered,
            likelihood=tuple(likelihood or ()),
            workers=workers,
            bootstrap=bootstrap,
            batch_size=batch_size,
            cache_dir=None if no_cache else (cache_dir or default_cache_dir()),
            device=device,
        )
        with progress_bar() as report:
            result = evaluate_pool(
                slates.slates, problem_set, ranker or [str(shipped)], options, report
            )
        if plots is not None:
            from train.plots import write_plots

            for written in write_plots(plots, slates.slates, result, title=str(pool)):
                stderr.print(f"wrote {written}", highlight=False)
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    _print_table([*result.rankers, *result.offered, *result.baselines], stdout)
    if result.calibration is not None:
        _print_calibration(result.calibration.to_json(), stdout)
    if result.with_logprobs:
        stdout.print(
            f"{result.with_logprobs} of {result.problems} problems have the generator's "
            "log-probabilities"
        )
    if execution:
        judged, typed = result.judged_and_typed()
        stdout.print(
            f"{judged} of {result.problems} problems have visible tests to run; "
            f"{typed} more ran on inputs built from their parameter types (agreement only)"
        )


def _evaluate_feedback(
    logs: list[Path], ranker_dir: str | None, k: int, device: str, as_json: bool
) -> None:
    """`eval --feedback`: the kept candidate's place before (as logged) and after (as
    `ranker_dir`, or the shipped ranker, serves the logged candidates)."""
    with user_errors():
        from ranker.model.config import RankerConfigError
        from ranker.model.ranker import Ranker
        from ranker.model.shipped import default_ranker_path
        from train.feedback import evaluate_feedback, read_logs
        from train.scoring import resolve_device

        log = read_logs(logs)
        path = ranker_dir or default_ranker_path()
        if path is None:
            raise RankerConfigError(
                "no default ranker is shipped in this install; pass --ranker DIR"
            )
        model = Ranker.from_pretrained(path, device=str(resolve_device(device)))
        result = {"ranker": str(path), **evaluate_feedback(log, model, k)}
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title=None)
    table.add_column("kept candidate")
    table.add_column("#1", justify="right")
    table.add_column(f"top {k}", justify="right")
    for name, row in (
        ("before (as logged)", result["before"]),
        (f"after ({Path(str(path)).name})", result["after"]),
    ):
        table.add_row(name, f"{row['#1']:.3f}", f"{row[f'top-{k}']:.3f}")
    stdout.print(table)
    stdout.print(f"{result['before']['requests']} requests with a kept candidate")


def _print_table(evaluations: list[Any], console: Console) -> None:
    """Ranked pass@k of each evaluation (with 95% interval), then random and oracle rows."""
    first = evaluations[0]
    ranked0 = first["ranked"] if isinstance(first, dict) else first.to_json()["ranked"]
    ks = list(ranked0)
    table = Table(title=None)
    table.add_column("ordering", overflow="fold")  # long names wrap, never cut
    for k in ks:
        table.add_column(k, justify="right")
    for ev in evaluations:
        data = ev if isinstance(ev, dict) else ev.to_json()
        table.add_row(
            Path(str(data["ranker"])).name or str(data["ranker"]),
            *[f"{data['ranked'][k]:.3f}" for k in ks],
        )
        intervals = data.get("ranked_ci95", {})
        if intervals:
            table.add_row(
                "  95% interval",
                *[f"{intervals[k][0]:.2f}-{intervals[k][1]:.2f}" for k in ks],
                style="dim",
            )
    data = first if isinstance(first, dict) else first.to_json()
    table.add_row("random (unbiased)", *[f"{data['random'][k]:.3f}" for k in ks])
    table.add_row("oracle", *[f"{data['oracle']:.3f}" for _ in ks])
    console.print(table)
    console.print(f"{data['problems']} problems, {data['candidates']} distinct programs")


def _print_calibration(report: dict[str, Any], console: Console) -> None:
    """ECE and Brier score of the first ranker's probabilities (`CalibrationReport.to_json`),
    over all programs and over each problem's first-ranked one."""
    table = Table(title=None)
    table.add_column("probabilities")
    for column in ("programs", "ECE", "Brier", "first-ranked ECE", "first-ranked Brier"):
        table.add_column(column, justify="right")
    for name, key in (("calibrated", "calibrated"), ("sigmoid of served score", "uncalibrated")):
        row = report.get(key)
        if row is None:
            table.add_row(name, "none", "", "", "", "")
            continue
        table.add_row(
            name,
            str(row["programs"]),
            f"{row['ece']:.3f}",
            f"{row['brier']:.3f}",
            f"{row['first_ranked_ece']:.3f}" if "first_ranked_ece" in row else "",
            f"{row['first_ranked_brier']:.3f}" if "first_ranked_brier" in row else "",
        )
    console.print(table)
    if report.get("calibrated") is None:
        console.print("the first ranker has no calibration: toppass-train calibrate fits one")


def _widths(text: str) -> tuple[int, ...]:
    """`--head-hidden`: comma-separated positive widths; empty for none."""
    from train.jsonl import DataError

    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise DataError(f"--head-hidden {text!r}: expected widths like 256 or 512,128") from None
    if any(w < 1 for w in widths):
        raise DataError(f"--head-hidden {text!r}: widths must be positive")
    return widths


def _load_problems(specs: list[str]) -> dict[str, Any]:
    from train.data import load_problem_sets

    problems = load_problem_sets(specs)
    _check_tests_compile(problems)
    return problems


def _check_tests_compile(problems: dict[str, Any]) -> None:
    """A problem whose tests do not compile would label every candidate failed: refuse."""
    from train.data import tests_that_do_not_compile

    broken = tests_that_do_not_compile(problems)
    if broken:
        task, reason = broken[0]
        more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        raise ValueError(f"the tests of {task} do not compile: {reason}{more}")


def _check_output_paths(pool: Path, out: Path, cache: Path | None) -> None:
    if out.exists() and pool.exists() and out.resolve() == pool.resolve():
        raise ValueError(f"--out must not be the pool it labels ({pool}): choose another file")
    for option, path in (("--out", out), ("--cache", cache)):
        if path is not None and path.is_dir():
            raise ValueError(f"{option} {path} is a directory; give a file path")


def _slates(
    pool_path: Path,
    problems: dict[str, Any],
    label_into: Path | None = None,
    workers: int | None = None,
) -> Any:
    """`train.data.load_slates`, with its labelling progress and a summary on stderr."""
    from train.data import load_slates

    with progress_bar() as report:
        slates = load_slates(pool_path, problems, label_into, workers, report)
    summary = slates.summary()
    stderr.print(
        f"{pool_path}: {summary['problems']} problems ({summary['mixed_problems']} mixed), "
        f"{summary['candidates']} candidates -> {summary['programs']} distinct programs, "
        f"{summary['dropped_unparsable']} unparsable dropped",
        highlight=False,
    )
    return slates


def main() -> None:
    app()


if __name__ == "__main__":
    main()
