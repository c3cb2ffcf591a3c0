"""The local feedback log (`feedbackLog`): for each generate request, the ranked candidates
with what the ranker read; which one the user applied; and, at the next save (or close) of the
document, what became of it (`ranker.feedback` has the record format, and reads it back).

It is a JSON-lines file under the user's state directory (`feedback.jsonl` beside
`consent.json`, `toppass_ls.consent.state_dir`). Nothing in it leaves the machine. Writing
never fails a request: an error is logged (once) and the record dropped. The file is bounded:
past `MAX_BYTES` it is renamed to `feedback.jsonl.1` (replacing the one before) and a new one
begun, so the log never holds more than about twice that.

`FeedbackRecorder` keeps the little state that needs (which request a cached list came from,
which applied candidates await their outcome) and takes no part in the protocol: the server
calls it from its handlers.
"""

from __future__ import annotations

import difflib
import json
import logging
import textwrap
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ranker.feedback import (
    EDITED_SIMILARITY,
    Decided,
    LoggedCandidate,
    Offer,
    Outcome,
    applied_record,
    offer_record,
    outcome_record,
)
from ranker.offer import RankedResult
from ranker.source import FunctionContext, function_named, split_lines
from toppass_ls.consent import state_dir

logger = logging.getLogger(__name__)

LOG_NAME = "feedback.jsonl"
MAX_BYTES = 32 << 20
REQUESTS_KEPT = 256  # requests whose candidates an `applied` may still name


def feedback_path() -> Path:
    return state_dir() / LOG_NAME


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _normalised(body: str) -> str:
    lines = [line.rstrip() for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return textwrap.dedent("\n".join(lines)).strip("\n")


def current_body(source: str, qualname: str) -> str | None:
    """The body of the function `qualname` in `source` as an edit replaces it (after the
    docstring), or None where the function is gone (or the module does not parse)."""
    ctx = function_named(source, qualname)
    if ctx is None:
        return None
    lines = split_lines(source)
    line, column = ctx.replace_start
    if line > ctx.end_line:
        return ""
    text = [lines[line][column:], *lines[line + 1 : ctx.end_line + 1]]
    return "\n".join(text)


def decide_outcome(applied_body: str, source: str, qualname: str) -> tuple[Outcome, float]:
    """What became of a body applied to the function `qualname`, from the document's text
    `source` now: `kept` (the same, up to indentation and trailing blanks), `edited` (close:
    difflib's ratio at least `EDITED_SIMILARITY`) or `replaced` (gone or far from it), with
    that ratio."""
    now = current_body(source, qualname)
    if now is None:
        return "replaced", 0.0
    applied, current = _normalised(applied_body), _normalised(now)
    if applied == current:
        return "kept", 1.0
    ratio = difflib.SequenceMatcher(None, applied, current, autojunk=False).ratio()
    return ("edited" if ratio >= EDITED_SIMILARITY else "replaced"), ratio


class FeedbackLog:
    """Appends records to the log file; never raises. `enabled` follows `feedbackLog`."""

    def __init__(self, path: Path | None = None, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.enabled = True
        self._failed = False
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> bool:
        if not self.enabled:
            return False
        path = self.path or feedback_path()
        line = json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
        try:
            with self._lock:
                path.parent.mkdir(parents=True, exist_ok=True)
                size = path.stat().st_size if path.exists() else 0
                if size and size + len(line.encode("utf-8")) > self.max_bytes:
                    path.replace(path.with_name(path.name + ".1"))
                    logger.info("feedback log %s reached %d bytes: begun anew", path, size)
                with path.open("a", encoding="utf-8") as out:
                    out.write(line)
        except (OSError, ValueError) as exc:
            if not self._failed:
                logger.warning("cannot write the feedback log %s: %s", path, exc)
            self._failed = True
            return False
        self._failed = False
        return True


@dataclass
class Pending:
    """An applied candidate whose outcome waits for the next save of its document."""

    request: str
    rank: int
    qualname: str
    body: str


@dataclass(frozen=True)
class OfferedList:
    request: str
    uri: str
    qualname: str
    result: RankedResult


class FeedbackRecorder:
    """What the server tells the feedback log, and the state between those moments."""

    def __init__(self, log: FeedbackLog | None = None) -> None:
        self.log = log or FeedbackLog()
        self._offers: OrderedDict[str, OfferedList] = OrderedDict()
        self._pending: dict[str, dict[str, Pending]] = {}  # uri -> qualname -> pending

    @property
    def enabled(self) -> bool:
        return self.log.enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self.log.enabled = value
        if not value:
            self._offers.clear()
            self._pending.clear()

    def offered(
        self, uri: str, ctx: FunctionContext, result: RankedResult, shown: int, ranker: str | None
    ) -> str | None:
        """Log a new ranked list; returns its request id (None with the log off)."""
        if not self.enabled or not result.candidates:
            return None
        try:
            request = uuid.uuid4().hex
            offer = Offer(
                request=request,
                function=ctx.qualname,
                prompt=result.prompt or ctx.prompt,
                candidates=tuple(
                    LoggedCandidate(c.rank, c.program, c.body, c.raw_score, c.probability, c.count)
                    for c in result.candidates
                ),
                signals=result.signals,
                shown=shown,
                ranker=ranker,
            )
            self.log.write(offer_record(offer, uri, _now()))
        except Exception:  # a record that cannot be made must not fail the request
            logger.warning("feedback log: cannot record the offer", exc_info=True)
            return None
        self._offers[request] = OfferedList(request, uri, ctx.qualname, result)
        while len(self._offers) > REQUESTS_KEPT:
            self._offers.popitem(last=False)
        return request

    def request_of(self, result: RankedResult) -> str | None:
        """The request id a (cached) ranked list was logged under."""
        for offered in reversed(self._offers.values()):
            if offered.result is result:
                return offered.request
        return None

    def applied(self, request: str, rank: int, via: str, source: str | None = None) -> bool:
        """The user applied candidate `rank` of `request`. An earlier candidate applied to
        the same function and not yet decided is `replaced` by it. Returns whether it was
        recorded (an unknown request, or the log off, is not)."""
        offered = self._offers.get(request)
        if not self.enabled or offered is None:
            return False
        candidate = next((c for c in offered.result.candidates if c.rank == rank), None)
        if candidate is None:
            return False
        waiting = self._pending.setdefault(offered.uri, {})
        earlier = waiting.pop(offered.qualname, None)
        if earlier is not None:
            self._decide(earlier, "apply", ("replaced", 0.0))
        self.log.write(applied_record(request, rank, via, _now()))
        waiting[offered.qualname] = Pending(request, rank, offered.qualname, candidate.body)
        return True

    def saved(self, uri: str, source: str, at: str = "save") -> None:
        """Decide every candidate applied in `uri` since its last save, from its text now."""
        for pending in self._pending.pop(uri, {}).values():
            try:
                decision = decide_outcome(pending.body, source, pending.qualname)
            except Exception:  # never fail the notification
                logger.warning("feedback log: cannot decide an outcome", exc_info=True)
                continue
            self._decide(pending, at, decision)

    def closed(self, uri: str, source: str | None) -> None:
        """The document closed: decide what waits from `source` (its text on disk; None
        where it cannot be read: nothing is decided)."""
        if source is None:
            self._pending.pop(uri, None)
            return
        self.saved(uri, source, at="close")

    def waiting(self, uri: str) -> list[Pending]:
        return list(self._pending.get(uri, {}).values())

    def _decide(self, pending: Pending, at: str, decision: tuple[Outcome, float]) -> None:
        outcome, similarity = decision
        decided = Decided(pending.request, pending.rank, outcome, similarity)
        self.log.write(outcome_record(decided, at, _now()))
