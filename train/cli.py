"""`toppass-train`: a thin typer shell over the training toolkit's functions."""

from __future__ import annotations

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


def main() -> None:
    app()
