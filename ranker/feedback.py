"""The feedback log: what the editor offered for a function, which candidate the user applied,
and what became of it. The server writes it (`toppass_ls.feedback`), training reads it
(`train.feedback`); this module holds what both need: the record format, the signals as JSON,
and reading a log back. A leaf: it imports only the signal types.

One JSON object per line, each with a `kind` and the `request` it belongs to:

    offer    a generate request's ranked list: the function's `prompt` (what the ranker read
             beside each program), every ranked candidate (`rank`, `program` as ranked, `body`
             as applied, the ranker's `score`, the calibrated `probability` or null, `count`),
             how many were `shown`, and the `signals` the ranker was served with, aligned with
             the candidates (execution results, reviewer likelihood, sample counts, static
             defects): enough to recompute any feature group and the serving order without
             running anything again
    applied  the user applied the candidate of `rank` (`via` the offer's command, a code
             action or an inline completion)
    outcome  what became of an applied candidate: `kept` (its body still there, verbatim, at
             the next save), `edited` (the function's body changed, but close to it:
             `similarity` >= `EDITED_SIMILARITY`), `replaced` (another candidate applied over
             it, its body gone or undone); `decided` at `save`, `close` or `apply`
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ranker.signals.types import ExecutionSignals, ProgramRun, Signals

FORMAT = 1
"""The `v` of every record; a reader refuses records of a later format."""

Outcome = Literal["kept", "edited", "replaced"]
OUTCOMES: tuple[Outcome, ...] = ("kept", "edited", "replaced")

EDITED_SIMILARITY = 0.6
"""The least `difflib.SequenceMatcher` ratio between the applied body and the function's body
at the next save for the candidate to count as `edited` rather than `replaced`."""


class FeedbackError(ValueError):
    """A feedback log that cannot be read (missing, a corrupt line, a record of the wrong
    shape); one line naming the file and the line."""


@dataclass(frozen=True)
class LoggedCandidate:
    rank: int
    program: str
    body: str
    score: float
    probability: float | None
    count: int


@dataclass(frozen=True)
class Offer:
    """One generate request as logged: its candidates best first, the signals aligned with
    them (None: nothing besides the text and counts was known)."""

    request: str
    function: str
    prompt: str
    candidates: tuple[LoggedCandidate, ...]
    signals: Signals | None
    shown: int
    ranker: str | None = None


@dataclass(frozen=True)
class Decided:
    """What became of one applied candidate."""

    request: str
    rank: int
    outcome: Outcome
    similarity: float | None = None


@dataclass
class FeedbackLog:
    """A log read back: offers by request, in the order logged, and the outcomes decided."""

    offers: dict[str, Offer] = field(default_factory=dict)
    applied: list[tuple[str, int]] = field(default_factory=list)
    outcomes: list[Decided] = field(default_factory=list)

    def outcomes_of(self, request: str) -> list[Decided]:
        return [d for d in self.outcomes if d.request == request]


# -- signals as JSON ---------------------------------------------------------------------------


def signals_to_json(signals: Signals | None) -> dict[str, Any] | None:
    """What `signals_from_json` reads back (a run's output signature is left out: it made the
    clusters, which are kept, and can be long)."""
    if signals is None:
        return None
    execution = signals.execution
    return {
        "execution": None
        if execution is None
        else {
            "cases": execution.cases,
            "runs": [[r.passed, r.failed, r.errors, r.timeouts] for r in execution.runs],
            "clusters": list(execution.clusters),
            "cluster_shares": [round(s, 6) for s in execution.cluster_shares],
        },
        "likelihood": None
        if signals.likelihood is None
        else [[_finite(c), _finite(r)] for c, r in signals.likelihood],
        "counts": None if signals.counts is None else list(signals.counts),
        "defects": None if signals.defects is None else list(signals.defects),
    }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def signals_from_json(data: Any, n: int) -> Signals | None:
    """Signals for `n` programs from `signals_to_json`; ValueError where they do not fit."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError("signals must be an object")
    execution = None
    raw = data.get("execution")
    if raw is not None:
        runs = tuple(
            ProgramRun(int(run[0]), int(run[1]), int(run[2]), int(run[3]), signature=())
            for run in raw["runs"]
        )
        execution = ExecutionSignals(
            int(raw["cases"]),
            runs,
            tuple(int(c) for c in raw["clusters"]),
            tuple(float(s) for s in raw["cluster_shares"]),
        )
        if not len(runs) == len(execution.clusters) == len(execution.cluster_shares) == n:
            raise ValueError(f"execution signals for {len(runs)} programs, not {n}")
    likelihood = data.get("likelihood")
    if likelihood is not None:
        likelihood = [
            (float("nan") if c is None else float(c), float("nan") if r is None else float(r))
            for c, r in likelihood
        ]
    counts = data.get("counts")
    defects = data.get("defects")
    for name, values in (("likelihood", likelihood), ("counts", counts), ("defects", defects)):
        if values is not None and len(values) != n:
            raise ValueError(f"{name} for {len(values)} programs, not {n}")
    return Signals(
        execution=execution,
        likelihood=likelihood,
        counts=[int(c) for c in counts] if counts is not None else None,
        defects=[None if d is None else str(d) for d in defects] if defects is not None else None,
    )


# -- records -----------------------------------------------------------------------------------


def offer_record(offer: Offer, uri: str, time: str) -> dict[str, Any]:
    return {
        "v": FORMAT,
        "kind": "offer",
        "request": offer.request,
        "time": time,
        "uri": uri,
        "function": offer.function,
        "ranker": offer.ranker,
        "shown": offer.shown,
        "prompt": offer.prompt,
        "candidates": [
            {
                "rank": c.rank,
                "program": c.program,
                "body": c.body,
                "score": _finite(c.score),
                "probability": c.probability,
                "count": c.count,
            }
            for c in offer.candidates
        ],
        "signals": signals_to_json(offer.signals),
    }


def applied_record(request: str, rank: int, via: str, time: str) -> dict[str, Any]:
    return {
        "v": FORMAT,
        "kind": "applied",
        "request": request,
        "rank": rank,
        "via": via,
        "time": time,
    }


def outcome_record(decided: Decided, at: str, time: str) -> dict[str, Any]:
    return {
        "v": FORMAT,
        "kind": "outcome",
        "request": decided.request,
        "rank": decided.rank,
        "outcome": decided.outcome,
        "similarity": None if decided.similarity is None else round(decided.similarity, 4),
        "decided": at,
        "time": time,
    }


# -- reading -----------------------------------------------------------------------------------


def read_feedback(paths: Path | Iterable[Path]) -> FeedbackLog:
    """Every record of the logs at `paths` (a log and its rotated predecessor may be given
    together: requests are joined by id across them). `FeedbackError` names the first file or
    line that cannot be read."""
    log = FeedbackLog()
    for path in [paths] if isinstance(paths, Path) else list(paths):
        if not path.is_file():
            raise FeedbackError(f"{path}: no such feedback log")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise FeedbackError(f"{path}: cannot be read ({exc})") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                _read_record(json.loads(line), log)
            except (ValueError, KeyError, TypeError) as exc:
                what = "not JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
                raise FeedbackError(
                    f"{path}, line {number}: not a feedback record ({what})"
                ) from None
    return log


def _read_record(record: Any, log: FeedbackLog) -> None:
    if not isinstance(record, dict):
        raise ValueError("not an object")
    if not isinstance(record.get("v"), int) or record["v"] > FORMAT:
        raise ValueError(f"unknown format {record.get('v')!r}")
    kind, request = record.get("kind"), record.get("request")
    if not isinstance(request, str):
        raise ValueError("no request id")
    if kind == "offer":
        candidates = tuple(
            LoggedCandidate(
                rank=int(c["rank"]),
                program=str(c["program"]),
                body=str(c["body"]),
                score=float("nan") if c.get("score") is None else float(c["score"]),
                probability=None if c.get("probability") is None else float(c["probability"]),
                count=int(c.get("count", 1)),
            )
            for c in record["candidates"]
        )
        if [c.rank for c in candidates] != list(range(1, len(candidates) + 1)):
            raise ValueError("candidates are not ranked 1..n")
        log.offers[request] = Offer(
            request=request,
            function=str(record["function"]),
            prompt=str(record["prompt"]),
            candidates=candidates,
            signals=signals_from_json(record.get("signals"), len(candidates)),
            shown=int(record.get("shown", len(candidates))),
            ranker=record.get("ranker"),
        )
    elif kind == "applied":
        log.applied.append((request, int(record["rank"])))
    elif kind == "outcome":
        outcome = record.get("outcome")
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        similarity = record.get("similarity")
        log.outcomes.append(
            Decided(
                request,
                int(record["rank"]),
                outcome,
                None if similarity is None else float(similarity),
            )
        )
    else:
        raise ValueError(f"unknown kind {kind!r}")


def kept_rank(decided: Sequence[Decided]) -> int | None:
    """The rank of the candidate the user kept (or kept and edited) among one request's
    outcomes; None where every applied candidate was replaced."""
    kept = [d.rank for d in decided if d.outcome in ("kept", "edited")]
    return kept[-1] if kept else None
