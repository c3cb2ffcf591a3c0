"""Slates: one problem's distinct candidate programs with their labels, the unit of training
(the pass@k loss is per problem) and of evaluation.

A slate holds programs as the ranker sees them in the editor: each pool candidate is prepared
by `train.pools.candidate_program` (bodies joined to the prompt, prompt imports added), and
programs equal up to formatting and comments are merged (`ranker.candidates.dedupe_key`),
as the server merges them. Candidates that do not make a program are counted, not scored.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ranker.candidates import dedupe_key
from train.jsonl import DataError
from train.pools import Pool, PoolCandidate, candidate_program
from train.problems import Problem


@dataclass(frozen=True)
class Slate:
    task_id: str
    problem: str
    programs: tuple[str, ...]
    labels: tuple[bool, ...]
    counts: tuple[int, ...]
    logprobs: tuple[float | None, ...] = ()
    """Per program, the generator's mean token log-probability (mean over the answers that
    merged into it), where the pool recorded one (`mean_logprob`); empty when it recorded none."""
    independent: bool = False
    """Whether the answers were sampled independently, so that `counts` mean agreement
    (`toppass-train generate` records each answer's `seed`; a pool may say `independent`);
    the LDB pools' duplicates are repair iterations of one answer, and are not."""

    @property
    def mixed(self) -> bool:
        """Both a passing and a failing program: the only slates a ranking loss learns from."""
        return any(self.labels) and not all(self.labels)


@dataclass
class SlateSet:
    slates: list[Slate]
    candidates: int = 0
    dropped: int = 0
    label_conflicts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def programs(self) -> int:
        return sum(len(s.programs) for s in self.slates)

    def summary(self) -> dict[str, int]:
        return {
            "problems": len(self.slates),
            "mixed_problems": sum(s.mixed for s in self.slates),
            "candidates": self.candidates,
            "programs": self.programs,
            "dropped_unparsable": self.dropped,
            "label_conflicts": self.label_conflicts,
        }


def build_slates(pool: Pool, problems: Mapping[str, Problem]) -> SlateSet:
    """Group a labelled pool into slates, one per problem, in pool order.

    Raises `DataError` when a candidate is unlabelled or names an unknown task. Duplicates
    whose labels disagree (a flaky test) keep the first label and are counted.
    """
    result = SlateSet(slates=[])
    for task_id, candidates in pool.by_task().items():
        problem = problems.get(task_id)
        if problem is None:
            raise DataError(
                f"pool task {task_id!r} (line {candidates[0].line}) is not in the problems"
            )
        order: dict[str, int] = {}
        programs: list[str] = []
        labels: list[bool] = []
        counts: list[int] = []
        logprobs: list[list[float]] = []
        independent = all(_independent(cand) for cand in candidates)
        for cand in candidates:
            if cand.passed is None:
                raise DataError(
                    f"pool line {cand.line}: candidate {task_id!r} #{cand.index} has no 'passed' "
                    "label; run `toppass-train label` first"
                )
            result.candidates += 1
            prepared = candidate_program(cand, problem)
            if prepared.program is None:
                result.dropped += 1
                continue
            key = dedupe_key(prepared.program)
            logprob = _mean_logprob(cand)
            if key in order:
                slot = order[key]
                counts[slot] += 1
                logprobs[slot] += logprob
                if labels[slot] != cand.passed:
                    result.label_conflicts += 1
                continue
            order[key] = len(programs)
            programs.append(prepared.program)
            labels.append(cand.passed)
            counts.append(1)
            logprobs.append(logprob)
        if programs:
            means = tuple(sum(v) / len(v) if v else None for v in logprobs)
            result.slates.append(
                Slate(
                    task_id,
                    problem.prompt,
                    tuple(programs),
                    tuple(labels),
                    tuple(counts),
                    means if any(m is not None for m in means) else (),
                    independent,
                )
            )
    return result


def _independent(candidate: PoolCandidate) -> bool:
    """A row sampled on its own: it records the seed `generate` drew it with, or says so."""
    return candidate.meta.get("independent") is True or isinstance(candidate.meta.get("seed"), int)


def _mean_logprob(candidate: PoolCandidate) -> list[float]:
    """The candidate's recorded `mean_logprob`, as a list of zero or one value."""
    value = candidate.meta.get("mean_logprob")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return [float(value)]
    return []


def split_by_task(slates: Sequence[Slate], fraction: float) -> tuple[list[Slate], list[Slate]]:
    """(kept, held out): about `fraction` of the slates held out, chosen by a hash of the
    task id, so the split is the same on every run and for every pool of those problems."""
    kept: list[Slate] = []
    held: list[Slate] = []
    for slate in slates:
        digest = hashlib.sha256(slate.task_id.encode()).digest()
        (held if int.from_bytes(digest[:4], "big") / 2**32 < fraction else kept).append(slate)
    if not kept or not held:
        raise ValueError(f"a {fraction:g} split of {len(slates)} problems leaves one side empty")
    return kept, held
