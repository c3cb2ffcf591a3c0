"""When a batch of answers stops waiting for its slowest rows.

A batch of sampled answers decodes one token per step for every row until the last row ends,
so its time is set by its longest answer. A small model's answers are mostly short (SmolLM2 on
MBPP at temperature 0.8: median 88 tokens) but one in ten rambles to the token limit (a
docstring that repeats, helper after helper), and most batches hold one (19 of 31): the batch
then costs the whole `maxTokens` for an answer that almost never passes. The rule: once a `quorum` of the rows has ended, a row
still going at `factor` times the median length of those ended (and past `floor` tokens) is
cut there, and kept as an answer as one cut by `maxTokens` would be.

`limit` is the one implementation: the local provider's per-step tracker asks it after every
step, and `benchmarks/local_stragglers.py` replays a labelled pool through it to measure what
the rule saves and what it cuts. Standard library only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StragglerRule:
    """`quorum`: share of a batch's rows that must have ended first; `factor`: a row still
    going at this multiple of their median length is cut; `floor`: never cut before this
    many tokens. A batch of one row is never cut (there is nothing to compare it with)."""

    quorum: float = 0.75
    factor: float = 2.0
    floor: int = 64

    def __post_init__(self) -> None:
        if not 0.0 < self.quorum <= 1.0:
            raise ValueError(f"quorum is a share in (0, 1], got {self.quorum!r}")
        if self.factor < 1.0 or self.floor < 1:
            raise ValueError("factor must be >= 1 and floor >= 1")

    def limit(self, ended: Sequence[int], rows: int) -> int | None:
        """The length (in tokens) at which the rows still going are cut, given the lengths of
        the `ended` rows of a batch of `rows`; None while fewer than the quorum have ended."""
        if rows < 2 or not ended or len(ended) < math.ceil(self.quorum * rows):
            return None
        return max(self.floor, math.ceil(self.factor * statistics.median(ended)))

    def replay(self, lengths: Sequence[int], max_tokens: int) -> int:
        """The step a batch whose rows would end after `lengths` tokens (a row at
        `max_tokens` never ended by itself) stops at under this rule: rows longer than it are
        cut there."""
        ended: list[int] = []
        waiting = sorted(length for length in lengths if length < max_tokens)
        for step in range(1, max_tokens + 1):
            while waiting and waiting[0] <= step:
                ended.append(waiting.pop(0))
            if len(ended) == len(lengths):
                return step
            cut = self.limit(ended, len(lengths))
            if cut is not None and step >= cut:
                return step
        return max_tokens


DEFAULT_STRAGGLERS = StragglerRule()
"""The local provider's rule unless told otherwise (figures: docs/results.md, "Speed")."""
