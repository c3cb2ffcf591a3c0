"""The installed package's version, read from its metadata: pyproject.toml is the one source."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    try:
        return version("toppass")
    except PackageNotFoundError:  # a checkout on sys.path that was never installed
        return "0+unknown"


def print_version(value: bool) -> None:
    """The `--version` option's callback, shared by both command-line tools."""
    if value:
        import typer

        typer.echo(f"toppass {package_version()}")
        raise typer.Exit()
