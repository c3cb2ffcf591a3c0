"""Rankers shipped inside the package. `default/` is the ranker `toppass-ls` and
`toppass-train eval` use when none is named (see its README.md for how it was trained)."""

from __future__ import annotations

from pathlib import Path

from ranker.config import RankerConfigError

DEFAULT_RANKER = Path(__file__).resolve().parent / "default"


def default_ranker_path(required: bool = False) -> Path | None:
    """The shipped default ranker's directory, or None when this install has none
    (`required`: raise a one-line error instead)."""
    if (DEFAULT_RANKER / "config.json").is_file():
        return DEFAULT_RANKER
    if required:
        raise RankerConfigError(
            f"no default ranker shipped at {DEFAULT_RANKER}; pass --ranker DIR "
            "(train one with `toppass-train fit`)"
        )
    return None
