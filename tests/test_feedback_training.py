"""Learning from what the user keeps: a synthetic feedback log in which the user always keeps
the candidate written as a list comprehension, among candidates that all behave the same (and
that the editor ranked in every position); `toppass-train fit --feedback` fine-tunes a tiny
ranker on it, and `toppass-train eval --feedback` on requests it never saw shows the kept style
first far more often than the editor's order did. Seconds on a CPU, no network."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ranker.feedback import (
    Decided,
    LoggedCandidate,
    Offer,
    applied_record,
    offer_record,
    outcome_record,
)
from ranker.signals.types import ExecutionSignals, ProgramRun, Signals
from train.cli import app
from train.feedback import feedback_slates, read_logs

runner = CliRunner()

TRAIN_OPS = ["x * 2", "x + 1", "x ** 2", "abs(x)", "str(x)", "-x", "x % 3", "x // 2"]
HELD_OUT_OPS = ["x * 3", "x - 1", "x ** 3", "round(x)", "float(x)", "x % 5"]
NAMES = ["scaled", "shifted", "mapped", "converted", "each", "transformed"]


def styles(op: str) -> dict[str, str]:
    """Four bodies that compute the same list, in four styles."""
    return {
        "comprehension": f"return [{op} for x in xs]\n",
        "loop": f"result = []\nfor x in xs:\n    result.append({op})\nreturn result\n",
        "map": f"return list(map(lambda x: {op}, xs))\n",
        "while": (
            "out = []\ni = 0\nwhile i < len(xs):\n    x = xs[i]\n"
            f"    out.append({op})\n    i += 1\nreturn out\n"
        ),
    }


def write_log(
    path: Path, ops: list[str], seed: int, extra_unsaved: int = 0, keeps: str = "comprehension"
) -> None:
    """One request per (name, op): the editor's order puts the style the user `keeps` at
    every rank in turn; the user keeps it (sometimes after trying another first, which is
    then replaced)."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    requests = [(name, op) for op in ops for name in NAMES]
    for number, (name, op) in enumerate(requests):
        prompt = f'def {name}(xs):\n    """Apply {op} to each x of xs."""\n'
        bodies = styles(op)
        order = [style for style in bodies if style != keeps]
        rng.shuffle(order)
        order.insert(number % 4, keeps)
        candidates = tuple(
            LoggedCandidate(
                rank=i + 1,
                program=prompt + "".join("    " + line for line in bodies[s].splitlines(True)),
                body=bodies[s],
                score=1.0 - 0.1 * i,
                probability=None,
                count=rng.randint(1, 3),
            )
            for i, s in enumerate(order)
        )
        run = ProgramRun(2, 0, 0, 0, ())
        signals = Signals(
            execution=ExecutionSignals(2, (run,) * 4, (0, 0, 0, 0), (1.0,) * 4),
            counts=[c.count for c in candidates],
            defects=[None] * 4,
        )
        request = f"r{seed}-{number}"
        offer = Offer(request, name, prompt, candidates, signals, shown=4, ranker=None)
        rows.append(offer_record(offer, f"file:///w/{name}.py", "t"))
        kept = order.index(keeps) + 1
        if number % 3 == 0 and kept != 1:  # tried #1 first, then took the comprehension
            rows.append(applied_record(request, 1, "code action", "t"))
            rows.append(outcome_record(Decided(request, 1, "replaced", 0.2), "apply", "t"))
        rows.append(applied_record(request, kept, "code action", "t"))
        rows.append(outcome_record(Decided(request, kept, "kept", 1.0), "save", "t"))
    for number in range(extra_unsaved):  # applied, never saved: no outcome, skipped
        prompt = f'def unsaved{number}(xs):\n    """Nothing."""\n'
        body = "return xs\n"
        candidate = LoggedCandidate(1, prompt + "    " + body, body, 0.0, None, 1)
        offer = Offer(f"u{number}", "unsaved", prompt, (candidate,), None, shown=1)
        rows.append(offer_record(offer, "file:///w/u.py", "t"))
        rows.append(applied_record(f"u{number}", 1, "command", "t"))
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


FIT = ["--val-split", "0.25", "--epochs", "25", "--lr", "5e-3", "--batch-problems", "4"]


def invoke(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def init_ranker(tiny_encoder_dir: Path, tmp_path: Path) -> Path:
    """A ranker that prefers another style: trained on a log where the user kept loops."""
    log, out = tmp_path / "loops.jsonl", tmp_path / "init"
    write_log(log, TRAIN_OPS, seed=3, keeps="loop")
    args = ["fit", "--feedback", log, "--backbone", tiny_encoder_dir, "--out", out, *FIT]
    result = invoke(*args, "--device", "cpu", "--no-calibrate")
    assert result.exit_code == 0, result.output
    return out


def test_the_log_becomes_slates_with_the_kept_candidate_correct(tmp_path):
    log = tmp_path / "feedback.jsonl"
    write_log(log, TRAIN_OPS[:2], seed=1, extra_unsaved=2)
    slates = feedback_slates(read_logs([log]))
    assert slates.offers == 14 and slates.without_outcome == 2 and len(slates.slates) == 12
    for slate in slates.slates:
        assert sum(slate.labels) == 1 and len(slate.labels) == 4
        kept = slate.programs[slate.labels.index(True)]
        assert " for x in xs]" in kept
        signals = slates.signals[slate.task_id]
        assert signals.execution is not None and list(signals.counts or []) == list(slate.counts)


def test_fit_on_feedback_puts_the_kept_style_first(tmp_path, init_ranker):
    train_log, held_out = tmp_path / "train.jsonl", tmp_path / "held-out.jsonl"
    write_log(train_log, TRAIN_OPS, seed=1, extra_unsaved=3)
    write_log(held_out, HELD_OUT_OPS, seed=2)

    def kept_at_top(ranker: Path) -> dict[str, Any]:
        args = ["eval", "--feedback", held_out, "--ranker", ranker, "--device", "cpu", "--json"]
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    before = kept_at_top(init_ranker)
    assert before["before"]["requests"] == len(HELD_OUT_OPS) * len(NAMES)
    assert before["before"]["#1"] <= 0.5  # the editor's order: the comprehension anywhere
    assert before["after"]["#1"] <= 0.5  # nor does the ranker fine-tuning starts from
    assert not (init_ranker / "calibration.json").exists()

    run = tmp_path / "run"
    result = invoke(
        "fit",
        "--feedback",
        train_log,
        "--init",
        init_ranker,
        "--out",
        run,
        *FIT,
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert "3 without one skipped" in " ".join(result.output.split())
    config = json.loads((run / "run_config.json").read_text())
    assert config["init"] == str(init_ranker) and config["data"]["feedback"] == [str(train_log)]

    calibration = json.loads((run / "calibration.json").read_text())  # refitted, as logged
    assert list(calibration["modes"]) == ["judged"]
    after = kept_at_top(run)
    print("held-out requests, kept candidate:", before, after)
    assert after["before"] == before["before"]
    assert after["after"]["#1"] >= 0.9
    assert after["after"]["top-3"] >= after["after"]["#1"]
