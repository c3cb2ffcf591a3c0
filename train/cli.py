"""`toppass-train`: a thin typer shell over the training toolkit's functions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Train and evaluate toppass rankers.",
)


@app.command()
def info() -> None:
    """Show the default ranker configuration and where its backbone comes from."""
    import json

    from ranker import RankerConfig
    from ranker.backbone import resolve_backbone

    config = RankerConfig()
    typer.echo(json.dumps(config.to_dict(), indent=2))
    typer.echo(f"backbone resolves to: {resolve_backbone(config.backbone)}")


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
    workers: Annotated[int, typer.Option(help="candidates run at once")] = os.cpu_count() or 1,
    timeout: Annotated[float, typer.Option(help="seconds per candidate (stdio: per test)")] = 3.0,
    memory: Annotated[int, typer.Option(help="address-space limit per candidate, MiB")] = 4096,
    cache: Annotated[
        Path | None,
        typer.Option(help="verdict cache (default: ~/.cache/toppass/label-cache.jsonl)"),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="run every program")] = False,
    strict: Annotated[
        bool,
        typer.Option(help="stop at the first bad pool line or unknown task instead of skipping"),
    ] = False,
) -> None:
    """Label a candidate pool by running every candidate against its problem's tests in the
    sandbox. Rows are appended to --out as they finish; rerun the same command to resume."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from ranker.sandbox import Limits, SandboxError
    from train.jsonl import DataError
    from train.labelling import default_cache_path, label_pool
    from train.loaders import load_problems

    console = Console(stderr=True)
    try:
        limits = Limits(timeout=timeout, memory=memory << 20)
        problem_set = load_problems(problems)
        progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        with progress:
            task = progress.add_task("labelling", total=None)
            stats = label_pool(
                problem_set,
                pool,
                out,
                workers=workers,
                limits=limits,
                cache_path=None if no_cache else (cache or default_cache_path()),
                strict=strict,
                on_start=lambda total: progress.update(task, total=total),
                on_progress=lambda n: progress.advance(task, n),
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


def main() -> None:
    app()
