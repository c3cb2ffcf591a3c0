"""The feedback log (`toppass_ls.feedback` writes, `ranker.feedback` reads): the records a
request leaves, the outcome decided at the next save, the setting off, a directory that cannot
be written, the file's bound."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ranker.feedback import FeedbackError, read_feedback
from ranker.offer import RankedCandidate, RankedResult
from ranker.signals.types import ExecutionSignals, ProgramRun, Signals
from ranker.source import function_at
from toppass_ls.feedback import FeedbackLog, FeedbackRecorder, decide_outcome

SOURCE = '''import math


def evens(xs):
    """The even numbers of xs."""
    raise NotImplementedError
'''
BODIES = (
    "return [x for x in xs if x % 2 == 0]\n",
    "out = []\nfor x in xs:\n    if x % 2 == 0:\n        out.append(x)\nreturn out\n",
    "return list(filter(lambda x: x % 2 == 0, xs))\n",
)


def applied(body: str) -> str:
    """SOURCE with `body` applied as the server applies it (below the docstring)."""
    return SOURCE.replace(
        "    raise NotImplementedError\n", "".join("    " + line for line in body.splitlines(True))
    )


def result() -> RankedResult:
    ctx = function_at(SOURCE, 3)
    assert ctx is not None
    candidates = tuple(
        RankedCandidate(
            rank=i + 1,
            score=0.5,
            raw_score=1.0 - i,
            count=3 - i,
            program=ctx.prompt + "".join("    " + line for line in body.splitlines(True)),
            body=body,
            passed=2,
            probability=0.9 - 0.1 * i,
        )
        for i, body in enumerate(BODIES)
    )
    run = ProgramRun(2, 0, 0, 0, ("[2]", "[]"))
    signals = Signals(
        execution=ExecutionSignals(2, (run,) * 3, (0, 0, 0), (1.0, 1.0, 1.0)),
        counts=[3, 2, 1],
        defects=[None, None, None],
    )
    return RankedResult("evens", candidates, 6, (), examples=2, prompt=ctx.prompt, signals=signals)


@pytest.fixture
def recorder(tmp_path: Path) -> FeedbackRecorder:
    return FeedbackRecorder(FeedbackLog(tmp_path / "state" / "feedback.jsonl"))


def records(recorder: FeedbackRecorder) -> list[dict]:
    assert recorder.log.path is not None
    if not recorder.log.path.exists():
        return []
    return [json.loads(line) for line in recorder.log.path.read_text().splitlines()]


def offer(recorder: FeedbackRecorder) -> tuple[str, RankedResult]:
    ctx = function_at(SOURCE, 3)
    assert ctx is not None
    ranked = result()
    request = recorder.offered("file:///w/a.py", ctx, ranked, shown=2, ranker="r")
    assert request is not None and recorder.request_of(ranked) == request
    return request, ranked


def test_a_request_applied_and_saved_unchanged_is_kept(recorder):
    request, ranked = offer(recorder)
    assert recorder.applied(request, 2, "code action")
    recorder.saved("file:///w/a.py", applied(BODIES[1]))
    kinds = [(r["kind"], r["request"]) for r in records(recorder)]
    assert kinds == [("offer", request), ("applied", request), ("outcome", request)]
    first, application, outcome = records(recorder)
    assert first["prompt"] == ranked.prompt and first["function"] == "evens"
    assert [c["rank"] for c in first["candidates"]] == [1, 2, 3]
    assert [c["body"] for c in first["candidates"]] == list(BODIES)
    assert first["candidates"][0]["score"] == 1.0 and first["candidates"][1]["probability"] == 0.8
    assert first["signals"]["counts"] == [3, 2, 1]
    assert first["signals"]["execution"]["runs"] == [[2, 0, 0, 0]] * 3
    assert application["rank"] == 2 and application["via"] == "code action"
    assert outcome["outcome"] == "kept" and outcome["rank"] == 2 and outcome["decided"] == "save"
    # and read back, as training reads it
    log = read_feedback(recorder.log.path)
    back = log.offers[request]
    assert back.prompt == ranked.prompt and back.shown == 2
    assert [c.program for c in back.candidates] == [c.program for c in ranked.candidates]
    assert back.signals is not None and back.signals.execution is not None
    assert back.signals.execution.cases == 2 and back.signals.counts == [3, 2, 1]
    assert [(d.rank, d.outcome) for d in log.outcomes_of(request)] == [(2, "kept")]
    assert recorder.waiting("file:///w/a.py") == []  # decided once


def test_outcomes_edited_replaced_and_gone():
    assert decide_outcome(BODIES[1], applied(BODIES[1]), "evens") == ("kept", 1.0)
    edited = BODIES[1].replace("out", "result")
    outcome, similarity = decide_outcome(BODIES[1], applied(edited), "evens")
    assert outcome == "edited" and 0.6 <= similarity < 1.0
    outcome, similarity = decide_outcome(BODIES[1], applied("return sorted(set(xs))\n"), "evens")
    assert outcome == "replaced" and similarity < 0.6
    assert decide_outcome(BODIES[1], "import math\n", "evens") == ("replaced", 0.0)
    assert decide_outcome(BODIES[1], SOURCE, "evens")[0] == "replaced"  # undone


def test_applying_another_candidate_replaces_the_first(recorder):
    request, _ = offer(recorder)
    recorder.applied(request, 1, "command")
    recorder.applied(request, 3, "code action")
    recorder.saved("file:///w/a.py", applied(BODIES[2]))
    outcomes = [
        (r["rank"], r["outcome"], r["decided"]) for r in records(recorder) if r["kind"] == "outcome"
    ]
    assert outcomes == [(1, "replaced", "apply"), (3, "kept", "save")]


def test_closed_unsaved_is_decided_on_the_text_on_disk(recorder):
    request, _ = offer(recorder)
    recorder.applied(request, 1, "command")
    recorder.closed("file:///w/a.py", SOURCE)  # the edit was never saved
    outcome = records(recorder)[-1]
    assert (outcome["outcome"], outcome["decided"]) == ("replaced", "close")


def test_setting_off_writes_nothing(recorder):
    recorder.enabled = False
    ctx = function_at(SOURCE, 3)
    assert ctx is not None
    assert recorder.offered("file:///w/a.py", ctx, result(), 2, None) is None
    assert not recorder.applied("whatever", 1, "command")
    recorder.saved("file:///w/a.py", SOURCE)
    assert records(recorder) == []


def test_an_unwritable_directory_is_logged_once_and_never_raises(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    recorder = FeedbackRecorder(FeedbackLog(blocker / "toppass" / "feedback.jsonl"))
    with caplog.at_level(logging.WARNING, logger="toppass_ls.feedback"):
        request, _ = offer(recorder)  # still answers with a request id
        assert recorder.applied(request, 1, "command")
        recorder.saved("file:///w/a.py", applied(BODIES[0]))
    warnings = [r for r in caplog.records if "cannot write the feedback log" in r.getMessage()]
    assert len(warnings) == 1


def test_the_file_is_bounded(tmp_path):
    log = FeedbackLog(tmp_path / "feedback.jsonl", max_bytes=2000)
    for i in range(40):
        assert log.write(
            {"v": 1, "kind": "applied", "request": f"r{i}", "rank": 1, "pad": "x" * 100}
        )
    assert (tmp_path / "feedback.jsonl").stat().st_size <= 2000
    assert (tmp_path / "feedback.jsonl.1").stat().st_size <= 2000
    both = read_feedback([tmp_path / "feedback.jsonl.1", tmp_path / "feedback.jsonl"])
    assert [r for r, _ in both.applied][-1] == "r39"


def test_reading_a_damaged_log_names_the_line(tmp_path):
    path = tmp_path / "feedback.jsonl"
    with pytest.raises(FeedbackError, match="no such feedback log"):
        read_feedback(path)
    path.write_text('{"v": 1, "kind": "applied", "request": "a", "rank": 1}\n{"v": 1, "kind"\n')
    with pytest.raises(FeedbackError, match="line 2: not a feedback record"):
        read_feedback(path)
