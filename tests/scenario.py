"""The scenario the server's execution tests share: a document whose `unique_sorted` has two
docstring examples, bodies that pass both, one or none, and a hand-set ranker (import as
`from scenario import ...`, as `procs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ranker import Ranker, RankerConfig
from ranker.source import function_at

SOURCE = '''import math


def unique_sorted(xs: list[int]) -> list[int]:
    """Return the distinct elements of xs in increasing order.

    >>> unique_sorted([3, 1, 3, 2])
    [1, 2, 3]
    >>> unique_sorted([])
    []
    """
    raise NotImplementedError


def no_examples(xs):
    """Return xs unchanged."""
    return xs


class Stats:
    def spread(self, xs):
        """Largest minus smallest.

        >>> spread([1, 5])
        4
        """
        return 0


async def fetch(xs):
    """>>> fetch([1])
    [1]
    """
    return xs
'''
RIGHT = "    return sorted(set(xs))\n"
RIGHT_TOO = "    return sorted({*xs})\n"  # another body, the same behaviour
WRONG = "    return sorted(xs)\n"  # passes the [] example only
RAISES = "    return xs[0] + None\n"  # raises on both


def context(line: int = 3) -> Any:
    """The function at `line` of SOURCE (3: unique_sorted, 15: no_examples)."""
    ctx = function_at(SOURCE, line)
    assert ctx is not None
    return ctx


def pass_fraction_ranker(encoder_dir: Path, features: tuple[str, ...] = ("execution",)) -> Ranker:
    """A ranker whose head reads only the pass fraction on the visible examples: whatever the
    text, a program that reproduces more examples scores higher, and programs that pass the
    same examples get equal head scores."""
    config = RankerConfig(
        backbone=str(encoder_dir), head_hidden=(), max_length=128, dropout=0.0, features=features
    )
    ranker = Ranker(config)
    linear = ranker.head.net[-1]
    assert isinstance(linear, torch.nn.Linear)
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
        column = ranker.hidden_size + ranker.feature_names.index("exec_pass_fraction")
        linear.weight[0, column] = 4.0
    return ranker


class Answers:
    """A provider that answers with fixed texts."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    async def sample(
        self, prompt: Any, n: int, *, on_progress: Any = None, on_answers: Any = None
    ) -> list[str]:
        return self.answers[:n]

    async def aclose(self) -> None:
        return None
