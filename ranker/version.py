"""The installed package's version, read from its metadata: pyproject.toml is the one source."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer


def package_version() -> str:
    try:
        return version("toppass")
    except PackageNotFoundError:  # a checkout on sys.path that was never installed
        return "0+unknown"


def print_version(value: bool) -> None:
    if value:
        typer.echo(f"toppass {package_version()}")
        raise typer.Exit()


VersionOption = Annotated[
    bool,
    typer.Option(
        "--version", help="Print the version and exit.", is_eager=True, callback=print_version
    ),
]
"""The `--version` option, shared by both command-line tools."""
