"""A table of bad inputs walked through the real `toppass-train` CLI: each gets one message
naming the problem and a non-zero exit, never a traceback, and writes nothing it should not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from train.cli import app

runner = CliRunner()

PROBLEMS = [
    {
        "task_id": "toy/uniq",
        "prompt": 'def uniq(xs):\n    """Return the sorted unique values of xs."""\n',
        "entry_point": "uniq",
        "tests": "assert uniq([3, 1, 3]) == [1, 3]\n",
        "visible_tests": ["assert uniq([3, 1, 3]) == [1, 3]"],
    }
]
POOL = [{"task_id": "toy/uniq", "index": 0, "code": "    return sorted(set(xs))\n"}]


@pytest.fixture
def files(tmp_path: Path, tiny_encoder_dir: Path) -> dict[str, Path]:
    import torch

    from ranker import Ranker, RankerConfig

    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({**PROBLEMS[0], "tests": "assert uniq([3, 1, 3) == [1, 3]\n"}))
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in POOL))
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(json.dumps({**POOL[0], "passed": True, "result": "passed"}) + "\n")
    torch.manual_seed(0)
    config = RankerConfig(backbone=str(tiny_encoder_dir), head_hidden=(8,), max_length=64)
    ranker = Ranker(config).save_pretrained(tmp_path / "ranker")
    damaged = tmp_path / "damaged"
    shutil.copytree(ranker, damaged)
    (damaged / "model.safetensors").write_bytes(b"\x00" * 40)
    truncated = tmp_path / "truncated"
    shutil.copytree(ranker, truncated)
    data = (ranker / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    reshaped = tmp_path / "reshaped"
    shutil.copytree(ranker, reshaped)
    other = json.loads((ranker / "config.json").read_text())
    other["head_hidden"] = [16]
    (reshaped / "config.json").write_text(json.dumps(other))
    miscalibrated = tmp_path / "miscalibrated"
    shutil.copytree(ranker, miscalibrated)
    (miscalibrated / "calibration.json").write_text(
        '{"format": "toppass-calibration/1", "modes": 3}'
    )
    corrupt = tmp_path / "corrupt-feedback.jsonl"
    offer = {
        "v": 1,
        "kind": "offer",
        "request": "r1",
        "function": "uniq",
        "prompt": PROBLEMS[0]["prompt"],
        "shown": 1,
        "candidates": [{"rank": 1, "program": "x = 1", "body": "x = 1", "score": 0.0, "count": 1}],
        "signals": None,
    }
    corrupt.write_text(json.dumps(offer) + "\n" + '{"v": 1, "kind": "outcome", "req\n')
    no_outcomes = tmp_path / "no-outcomes.jsonl"
    applied = {"v": 1, "kind": "applied", "request": "r1", "rank": 1, "via": "command"}
    no_outcomes.write_text(json.dumps(offer) + "\n" + json.dumps(applied) + "\n")
    return {
        "corrupt": corrupt,
        "no_outcomes": no_outcomes,
        "problems": problems,
        "broken": broken,
        "pool": pool,
        "labelled": labelled,
        "ranker": ranker,
        "damaged": damaged,
        "truncated": truncated,
        "reshaped": reshaped,
        "miscalibrated": miscalibrated,
        "dir": tmp_path,
    }


LABEL = ["label", "--problems", "{problems}", "--pool", "{pool}", "--no-cache"]
EVAL = ["eval", "--problems", "{problems}", "--pool", "{labelled}", "--no-execution"]
FIT = ["fit", "--train", "{labelled}", "--val", "{labelled}", "--problems", "{problems}"]
CALIBRATE = ["calibrate", "--problems", "{problems}", "--pool", "{labelled}", "--no-execution"]

CASES: list[tuple[str, list[str], str]] = [
    (
        "fit --feedback: a log that is not there",
        ["fit", "--feedback", "{dir}/none.jsonl", "--val-split", "0.5", "--out", "{dir}/run"],
        "none.jsonl: no such feedback log",
    ),
    (
        "fit --feedback: a corrupt line",
        ["fit", "--feedback", "{corrupt}", "--val-split", "0.5", "--out", "{dir}/run"],
        "line 2: not a feedback record",
    ),
    (
        "eval --feedback: a log without outcomes",
        ["eval", "--feedback", "{no_outcomes}", "--ranker", "{ranker}"],
        "no outcomes in the feedback log",
    ),
    (
        "eval --feedback: a corrupt line",
        ["eval", "--feedback", "{corrupt}", "--ranker", "{ranker}"],
        "line 2: not a feedback record",
    ),
    ("fit with neither --train nor --feedback", ["fit", "--out", "{dir}/run"], "--feedback LOG"),
    (
        "fit --init: not a ranker",
        [*FIT, "--out", "{dir}/run", "--init", "{dir}"],
        "not a saved ranker",
    ),
    ("eval without --pool or --feedback", ["eval", "--ranker", "{ranker}"], "--feedback LOG"),
    ("damaged ranker weights", [*EVAL, "--ranker", "{damaged}"], "not a readable safetensors"),
    ("truncated ranker weights", [*EVAL, "--ranker", "{truncated}"], "safetensors"),
    ("weights of another shape", [*EVAL, "--ranker", "{reshaped}"], "does not match its config"),
    ("--out naming a directory", [*LABEL, "--out", "{dir}"], "is a directory"),
    (
        "--cache naming a directory",
        [*LABEL[:-1], "--out", "{dir}/o.jsonl", "--cache", "{dir}"],
        "is a directory",
    ),
    ("--out equal to --pool", [*LABEL, "--out", "{pool}"], "must not be the pool"),
    ("--device bogus", [*EVAL, "--ranker", "{ranker}", "--device", "bogus"], "unknown device"),
    ("fit --lr nan", [*FIT, "--out", "{dir}/run", "--lr", "nan"], "lr must be"),
    ("fit --lr 1e30", [*FIT, "--out", "{dir}/run", "--lr", "1e30"], "lr must be"),
    (
        "fit --batch-problems 0",
        [*FIT, "--out", "{dir}/run", "--batch-problems", "0"],
        "batch_problems",
    ),
    (
        "label --timeout 1e308",
        [*LABEL, "--out", "{dir}/o.jsonl", "--timeout", "1e308"],
        "--timeout",
    ),
    ("label --timeout nan", [*LABEL, "--out", "{dir}/o.jsonl", "--timeout", "nan"], "--timeout"),
    ("label --memory 0", [*LABEL, "--out", "{dir}/o.jsonl", "--memory", "0"], "--memory"),
    (
        "tests that do not compile",
        ["label", "--problems", "{broken}", "--pool", "{pool}", "--out", "{dir}/o.jsonl"],
        "do not compile",
    ),
    ("eval --bootstrap -1", [*EVAL, "--ranker", "{ranker}", "--bootstrap", "-1"], "--bootstrap"),
    (
        "a damaged calibration.json",
        [*EVAL, "--ranker", "{miscalibrated}"],
        "calibration.json: 'modes' must be an object",
    ),
    (
        "calibrate --split 1",
        [*CALIBRATE, "--ranker", "{ranker}", "--split", "1"],
        "--split must be in [0, 1)",
    ),
    (
        "calibrate a ranker that is not there",
        [*CALIBRATE, "--ranker", "{dir}/none"],
        "ranker directory not found",
    ),
    (
        "generate --api bogus",
        [
            "generate",
            "--problems",
            "{problems}",
            "--out",
            "{dir}/g.jsonl",
            "--provider",
            "openai",
            "--model",
            "m",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--api",
            "bogus",
        ],
        "api must be chat or completions",
    ),
    (
        "generate --provider bogus",
        ["generate", "--problems", "{problems}", "--out", "{dir}/g.jsonl", "--provider", "bogus"],
        "provider must be one of",
    ),
    (
        "an unknown problem set",
        ["label", "--problems", "no-such-benchmark", "--pool", "{pool}", "--out", "{dir}/o.jsonl"],
        "no-such-benchmark",
    ),
]


@pytest.mark.parametrize(("case", "args", "says"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_message_and_a_non_zero_exit(
    case: str, args: list[str], says: str, files: dict[str, Path]
) -> None:
    result = runner.invoke(app, [a.format(**files) for a in args])
    output = result.output
    assert result.exit_code in (1, 2), (case, result.exit_code, output)
    assert isinstance(result.exception, SystemExit), (case, result.exception)
    assert "Traceback" not in output, output
    assert says in " ".join(output.split()), (case, output)
    assert not (files["dir"] / "g.jsonl").exists()  # generate wrote no junk rows


def test_eval_without_resamples_reports_no_interval(files: dict[str, Path]) -> None:
    args = [*EVAL, "--ranker", "{ranker}", "--bootstrap", "0", "--json", "--no-offered"]
    result = runner.invoke(app, [a.format(**files) for a in args])
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["ranked_ci95"] == {}  # no zero-width interval claiming certainty


def test_a_precision_typo_is_one_line_before_any_work(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from toppass_ls.cli import app as ls_app

    monkeypatch.setenv("TOPPASS_PRECISION", "fp16")
    result = runner.invoke(app, [a.format(**files) for a in [*EVAL, "--ranker", "{ranker}"]])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "TOPPASS_PRECISION must be auto, float32 or bfloat16, got 'fp16'" in result.output
    assert "problems" not in result.output  # nothing was loaded first
    demo = files["dir"] / "demo.py"
    demo.write_text('def f(x):\n    """Double x."""\n    raise NotImplementedError\n')
    result = runner.invoke(ls_app, ["suggest", f"{demo}:2"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "TOPPASS_PRECISION must be auto" in result.output
    assert "Traceback" not in result.output
