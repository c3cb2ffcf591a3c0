"""What is known about one problem's candidate programs besides their text: the signal types
every other room passes around (a leaf: no imports from the rest of the package)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

EMPTY_BODY = "empty body"
"""The static defect of a function whose body does nothing (`ranker.signals.defects`): certain,
so it goes last even where examples ran (`ranker.order`)."""


@dataclass(frozen=True)
class ProgramRun:
    """What one program did on the visible tests."""

    passed: int
    failed: int
    errors: int
    timeouts: int
    signature: tuple[str, ...]

    @property
    def cases(self) -> int:
        return self.passed + self.failed + self.errors + self.timeouts


@dataclass(frozen=True)
class ExecutionSignals:
    """Per-program runs of one slate, their agreement clusters (ids in first-seen order) and
    each cluster's share of the sampled answers (duplicates counted)."""

    cases: int  # judged visible tests (probes without an expected value are not counted)
    runs: tuple[ProgramRun, ...]
    clusters: tuple[int, ...]
    cluster_shares: tuple[float, ...]

    @property
    def judged(self) -> bool:
        """Whether any probe had an expected result. Without one (inputs from the parameter
        types, `ranker.examples.typed.typed_calls`) the runs say only which programs agree."""
        return self.cases > 0

    @property
    def tiers(self) -> tuple[int, ...]:
        """Visible examples each program passes: the tiers of `ranker.order.diverse_order`."""
        return tuple(run.passed for run in self.runs)

    @property
    def weights(self) -> tuple[float, ...] | None:
        """Cluster shares as `ranker.order.diverse_order` weights where nothing was judged
        (the samples' agreement is then all there is to apportion the top k by); None
        otherwise (the examples passed decide, as `tiers`)."""
        return None if self.judged else self.cluster_shares

    def summary(self, i: int) -> str:
        """`3/3 examples`, for titles; `agrees with 40%` (of the sampled answers) where
        nothing was judged."""
        if not self.judged:
            return f"agrees with {self.cluster_shares[i]:.0%}"
        return f"{self.runs[i].passed}/{self.cases} examples"


@dataclass(frozen=True)
class Signals:
    """What is known about one problem's programs besides their text; fields aligned with the
    programs, None when not computed."""

    execution: ExecutionSignals | None = None
    likelihood: Sequence[tuple[float, float]] | None = None  # (coder, reviewer) per program
    counts: Sequence[int] | None = None
    """How many sampled answers gave each program, where the answers were sampled
    independently (the editor's always are; a pool's are when it says so): agreement between
    independent samples is evidence, repair iterations of one answer are not."""
    defects: Sequence[str | None] | None = None  # static defects (`ranker.signals.defects`)
    generator: Sequence[float | None] | None = None
    """The generator's mean token log-probability of each program, where the backend gave it."""

    def select(self, indices: Sequence[int]) -> Signals:
        """These signals for the programs at `indices`, in that order (e.g. the ranked order)."""

        def pick(values: Sequence[Any] | None) -> list[Any] | None:
            return None if values is None else [values[i] for i in indices]

        execution = self.execution
        if execution is not None:
            execution = ExecutionSignals(
                execution.cases,
                tuple(execution.runs[i] for i in indices),
                tuple(execution.clusters[i] for i in indices),
                tuple(execution.cluster_shares[i] for i in indices),
            )
        return Signals(
            execution=execution,
            likelihood=pick(self.likelihood),
            counts=pick(self.counts),
            defects=pick(self.defects),
            generator=pick(self.generator),
        )
