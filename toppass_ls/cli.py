"""`toppass-ls`: start the language server (stdio for editors, TCP for debugging)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

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
) -> None:
    """Start the server over stdio (the default, what editors use) or TCP."""
    if ctx.invoked_subcommand is not None:
        return
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    from toppass_ls.server import create_server

    server = create_server()
    if tcp is not None:
        server.start_tcp(host, tcp)
    else:
        server.start_io()


def main() -> None:
    app()
