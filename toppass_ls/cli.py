"""`toppass-ls`: start the language server (stdio for editors, TCP for debugging), or run the
same pipeline once from a terminal (`toppass-ls suggest FILE:LINE`)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ranker.version import VersionOption

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="toppass language server: ranked LLM code candidates as code actions.",
)


@app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    stdio: Annotated[
        bool, typer.Option("--stdio", help="Talk LSP over stdin/stdout (editors).")
    ] = False,
    tcp: Annotated[
        int | None,
        typer.Option("--tcp", metavar="PORT", help="Listen for one client on a TCP port."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address for --tcp.")] = "127.0.0.1",
    log_level: Annotated[str, typer.Option(help="Logging level for stderr.")] = "INFO",
    version: VersionOption = False,
) -> None:
    """Start the server over stdio (the default, what editors use) or TCP."""
    if ctx.invoked_subcommand is not None:
        return
    _check_environment()
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("pygls").setLevel(logging.WARNING)  # it logs every message at INFO
    _quiet_libraries()
    from toppass_ls.server import create_server

    server = create_server()
    if tcp is not None:
        server.start_tcp(host, tcp)
    else:
        server.start_io()


def _check_environment() -> None:
    """Environment variables the server and `suggest` read, checked before any work."""
    from ranker.local_models import LocalModelError, precision_choice

    try:
        precision_choice()
    except LocalModelError as exc:
        typer.echo(f"toppass-ls: {exc}", err=True)
        raise typer.Exit(2) from None


def _quiet_libraries() -> None:
    """No tqdm bars from transformers (model loading) on the terminal or in editor logs."""
    os.environ.setdefault("TQDM_DISABLE", "1")  # read when tqdm is imported
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


class SuggestError(Exception):
    """A failure `suggest` reports: one line on stderr, or `{"error": ...}` with --json."""


def _fail(message: str) -> SuggestError:
    return SuggestError(message)


def _target(target: str) -> tuple[Path, int]:
    path_text, _, line_text = target.rpartition(":")
    if not path_text or not line_text.isdigit() or int(line_text) < 1:
        raise _fail(f"expected FILE:LINE with LINE >= 1, got {target!r}")
    path = Path(path_text)
    if not path.is_file():
        raise _fail(f"no such file: {path}")
    return path, int(line_text)


@app.command()
def suggest(
    target: Annotated[
        str,
        typer.Argument(
            metavar="FILE:LINE", help="A Python file and a line (1-based) inside a function."
        ),
    ],
    top_k: Annotated[int | None, typer.Option(help="How many ranked candidates to print.")] = None,
    samples: Annotated[int | None, typer.Option(help="How many candidates to sample.")] = None,
    provider: Annotated[str | None, typer.Option(help="local or openai.")] = None,
    model: Annotated[
        str | None, typer.Option(help="Model: openai.model, or local.model for --provider local.")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="openai.baseUrl.")] = None,
    api: Annotated[str | None, typer.Option(help="openai.api: chat or completions.")] = None,
    ranker: Annotated[
        str | None, typer.Option(help="rankerPath: a trained ranker directory.")
    ] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Max new tokens per candidate.")] = None,
    time_budget: Annotated[
        float | None, typer.Option(help="Sampling time budget, seconds.")
    ] = None,
    allow_execution: Annotated[
        bool | None,
        typer.Option(
            "--allow-execution/--no-allow-execution",
            help="allowExecution: run the candidates on the docstring's examples in the sandbox.",
            show_default=False,
        ),
    ] = None,
    adaptive_sampling: Annotated[
        bool | None,
        typer.Option(
            "--adaptive-sampling/--no-adaptive-sampling",
            help="adaptiveSampling: sample 4 answers first and the rest only when they do not "
            "settle the top of the list.",
            show_default=False,
        ),
    ] = None,
    reviewer_tie_break: Annotated[
        bool | None,
        typer.Option(
            "--reviewer-tie-break/--no-reviewer-tie-break",
            help="reviewerTieBreak: order candidates by how well each predicts the docstring "
            "where the examples cannot tell them apart, or nothing ran (loads SmolLM2-135M, "
            "~15 s).",
            show_default=False,
        ),
    ] = None,
    settings_file: Annotated[
        Path | None,
        typer.Option(
            "--settings", help="JSON file with server settings (as in initializationOptions)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    log_level: Annotated[str, typer.Option(help="Logging level for stderr.")] = "WARNING",
) -> None:
    """Sample, rank and print the top K candidates for the function at FILE:LINE, exactly as
    the server would offer them. With --json, stdout is one JSON object, an `error` field in
    it on failure (exit code 1)."""
    logging.basicConfig(level=log_level.upper(), format="%(name)s %(levelname)s %(message)s")
    options = {
        "topK": top_k,
        "samples": samples,
        "provider": provider,
        "local.model" if (provider or "") == "local" else "openai.model": model,
        "openai.baseUrl": base_url,
        "openai.api": api,
        "rankerPath": ranker,
        "temperature": temperature,
        "maxTokens": max_tokens,
        "timeBudget": time_budget,
        "allowExecution": allow_execution,
        "reviewerTieBreak": reviewer_tie_break,
        "adaptiveSampling": adaptive_sampling,
    }
    _check_environment()
    try:
        payload = _suggest(target, options, settings_file, as_json)
    except SuggestError as exc:
        if as_json:
            typer.echo(json.dumps({"error": str(exc)}))
        else:
            typer.echo(f"toppass-ls: {exc}", err=True)
        raise typer.Exit(1) from None
    if payload is not None:
        typer.echo(json.dumps(payload, indent=2))


def _suggest(
    target: str, options: dict[str, Any], settings_file: Path | None, as_json: bool
) -> dict[str, Any] | None:
    """`suggest`'s work: the JSON payload with `as_json`, else None (printed already)."""
    from ranker.source import function_at
    from toppass_ls.edits import candidate_json, candidate_titles
    from toppass_ls.settings import merge, parse_settings

    path, line = _target(target)
    raw: dict[str, Any] = {}
    if settings_file is not None:
        try:
            raw = json.loads(settings_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise _fail(f"cannot read settings from {settings_file}: {exc}") from None
    settings, problems = parse_settings(
        merge(merge({}, raw), {k: v for k, v in options.items() if v is not None})
    )
    if problems:
        raise _fail(problems[0])
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {path}: {exc}") from None
    ctx = function_at(source, line - 1)
    if ctx is None:
        raise _fail(f"no Python function at line {line} of {path}")
    _quiet_libraries()
    result, seconds = asyncio.run(_run(ctx, settings))
    if not as_json:
        _print(ctx, result, settings.top_k, seconds)
        return None
    top = result.top(settings.top_k)
    return {
        "function": ctx.qualname,
        "seconds": round(seconds, 2),
        "sampled": result.sampled,
        "dropped": list(result.dropped),
        "execution": result.execution,
        "reviewer": result.reviewer,
        "warning": result.warning,
        "candidates": [
            candidate_json(c, t) for c, t in zip(top, candidate_titles(top), strict=True)
        ],
    }


async def _run(ctx: Any, settings: Any) -> tuple[Any, float]:
    from rich.console import Console

    from generation.provider import SamplingError
    from ranker.model.config import RankerConfigError
    from ranker.signals.examples_run import ExampleRunner
    from ranker.signals.likelihood import LikelihoodScorer
    from toppass_ls.pipeline import RankerLoader, generate, make_provider, stopping_rule

    console = Console(stderr=True)
    provider = make_provider(settings)
    rankers = RankerLoader()
    # a terminal cannot ask as an editor does: "ask" runs nothing; --allow-execution runs
    examples = ExampleRunner() if settings.allow_execution is True else None
    reviewer = LikelihoodScorer() if settings.reviewer_tie_break else None
    started = time.perf_counter()
    try:
        with console.status(f"toppass: {ctx.name}(): starting") as status:

            def report(message: str, percentage: int | None) -> None:
                status.update(f"toppass: {ctx.name}(): {message}")

            result = await generate(
                ctx,
                provider,
                lambda: rankers.get(settings.ranker_path),
                settings.samples,
                report,
                examples,
                reviewer,
                settings.probe_inputs,
                stopping_rule(settings),
            )
    except SamplingError as exc:
        raise _fail(str(exc)) from None
    except RankerConfigError as exc:
        raise _fail(f"cannot load the ranker: {exc}") from None
    finally:
        await provider.aclose()
        if examples is not None:
            examples.close()
    if not result.candidates:
        raise _fail(result.empty_message())
    return result, time.perf_counter() - started


def _print(ctx: Any, result: Any, top_k: int, seconds: float) -> None:
    """Each candidate as a whole function: highlighted on a terminal; as plain text, never
    wrapped or cut, anywhere else (a file, a pipe), so what is printed is valid Python."""
    from rich.console import Console
    from rich.syntax import Syntax

    from ranker.offer import REVIEWER_OFF
    from toppass_ls.edits import indent_body

    out = Console()
    err = Console(stderr=True)
    shown = result.top(top_k)
    err.print(
        f"{ctx.qualname}(): {result.sampled} sampled, {len(result.candidates)} distinct, "
        f"{len(result.dropped)} dropped, {seconds:.1f} s",
        soft_wrap=True,
    )
    if result.warning:
        err.print(f"warning: {result.warning}", soft_wrap=True, style="bold yellow")
    err.print(result.execution, soft_wrap=True)
    if result.reviewer != REVIEWER_OFF:
        err.print(result.reviewer, soft_wrap=True)
    for candidate in shown:
        details = [
            f"score {candidate.score:.2f}"
            if candidate.probability is None
            else f"p={candidate.probability:.2f}"
        ]
        if candidate.count > 1:
            details.append(f"x{candidate.count}")
        if candidate.examples:
            details.insert(0, candidate.examples)
        if candidate.defect:
            details.append(candidate.defect)
        heading = f"#{candidate.rank}  " + "  ".join(details)
        code = ctx.header + indent_body(candidate.body, "    ")
        if not out.is_terminal:
            typer.echo(f"# {heading}\n{code.rstrip()}\n")
            continue
        out.rule(heading, align="left")
        out.print(
            Syntax(code.rstrip("\n"), "python", theme="ansi_dark", background_color="default")
        )


@app.command("settings-schema")
def settings_schema_command(
    markdown: Annotated[
        bool, typer.Option(help="Print the README's Markdown table instead.")
    ] = False,
) -> None:
    """Print every setting (key, type, default, description) as JSON: the source for the VS
    Code package.json and the README."""
    from toppass_ls.settings import settings_markdown, settings_schema

    if markdown:
        typer.echo(settings_markdown(), nl=False)
    else:
        typer.echo(json.dumps(settings_schema(), indent=2))


def main() -> None:
    app()
