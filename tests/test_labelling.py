"""Labelling a pool: rows appended with verdicts, resumable, cached, bad input named or
counted, and the CLI around it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ranker.sandbox import Limits
from train.cli import app
from train.jsonl import DataError, read_jsonl
from train.labelling import label_pool
from train.problems import problem_from_record

LIMITS = Limits(timeout=2.0, memory=1 << 30)
PROBLEMS_RECORDS = [
    {
        "task_id": "acme/add",
        "prompt": 'def add(a, b):\n    """Sum of a and b."""\n',
        "entry_point": "add",
        "tests": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"],
    },
    {
        "task_id": "acme/echo",
        "prompt": "Print the input reversed.",
        "tests": [{"input": "abc\n", "output": "cba\n"}],
    },
]
POOL = [
    {"task_id": "acme/add", "completion": "    return a + b\n", "model": "m1"},
    {"task_id": "acme/add", "code": "```python\ndef add(a, b):\n    return a - b\n```"},
    {"task_id": "acme/add", "code": "def add(a, b):\n    return a + b\n"},
    {"task_id": "acme/add", "code": "Sorry, I cannot do that."},
    {"task_id": "acme/echo", "code": "print(input()[::-1])"},
    {"task_id": "acme/add", "completion": "    return a + b\n", "model": "m2"},  # same as #0
]


@pytest.fixture
def problems():
    return {r["task_id"]: problem_from_record(r) for r in PROBLEMS_RECORDS}


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def rows_of(path):
    return [row for _, row in read_jsonl(path)]


def test_pool_is_labelled_row_by_row(tmp_path, problems):
    pool = write(tmp_path / "pool.jsonl", POOL)
    out = tmp_path / "out.jsonl"
    stats = label_pool(problems, pool, out, workers=2, limits=LIMITS)
    rows = {(r["task_id"], r["index"]): r for r in rows_of(out)}
    assert {k: r["passed"] for k, r in rows.items()} == {
        ("acme/add", 0): True,
        ("acme/add", 1): False,
        ("acme/add", 2): True,
        ("acme/add", 3): False,
        ("acme/echo", 0): True,
        ("acme/add", 4): True,
    }
    assert rows[("acme/add", 0)]["model"] == "m1"  # generator metadata kept
    assert rows[("acme/add", 1)]["result"].startswith("failed: case 0: AssertionError")
    assert (
        rows[("acme/add", 3)]["outcome"] == "error" and rows[("acme/add", 3)]["program_sha"] is None
    )
    # #0 and #4 are the same program: run once, same hash
    assert rows[("acme/add", 0)]["program_sha"] == rows[("acme/add", 4)]["program_sha"]
    assert (stats.labelled, stats.passed, stats.dropped) == (6, 4, 1)
    assert (stats.executed, stats.from_cache) == (4, 1)


def test_rerun_resumes_and_cache_makes_relabelling_free(tmp_path, problems):
    pool = write(tmp_path / "pool.jsonl", POOL)
    out, cache = tmp_path / "out.jsonl", tmp_path / "cache.jsonl"
    first = label_pool(problems, pool, out, workers=2, limits=LIMITS, cache_path=cache)
    assert first.executed == 4
    again = label_pool(problems, pool, out, workers=2, limits=LIMITS, cache_path=cache)
    assert (again.already_done, again.labelled, again.executed) == (6, 0, 0)
    other = tmp_path / "other.jsonl"
    fresh = label_pool(problems, pool, other, workers=2, limits=LIMITS, cache_path=cache)
    assert (fresh.labelled, fresh.executed, fresh.from_cache) == (6, 0, 5)
    verdicts = {(r["task_id"], r["index"]): r["passed"] for r in rows_of(out)}
    assert {(r["task_id"], r["index"]): r["passed"] for r in rows_of(other)} == verdicts


def test_interrupted_output_is_repaired_and_completed(tmp_path, problems):
    pool = write(tmp_path / "pool.jsonl", POOL)
    out = tmp_path / "out.jsonl"
    label_pool(problems, pool, out, workers=1, limits=LIMITS)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:2]) + lines[2][:20])  # killed while writing the third row
    stats = label_pool(problems, pool, out, workers=1, limits=LIMITS)
    assert stats.already_done == 2 and stats.labelled == 4
    rows = rows_of(out)
    assert len(rows) == 6 and len({(r["task_id"], r["index"]) for r in rows}) == 6


def test_a_verdict_that_was_the_sandboxs_own_error_is_labelled_again(tmp_path, problems):
    pool = write(tmp_path / "pool.jsonl", POOL)
    out = tmp_path / "out.jsonl"
    label_pool(problems, pool, out, workers=1, limits=LIMITS)
    rows = rows_of(out)
    rows[1] = {
        **rows[1],
        "passed": False,
        "result": "error: sandbox worker died",
        "sandbox_error": True,
    }
    out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    stats = label_pool(problems, pool, out, workers=1, limits=LIMITS)
    assert stats.already_done == 5 and stats.labelled == 1  # that row alone, again
    again = rows_of(out)
    assert len(again) == 6 and not any(r.get("sandbox_error") for r in again)
    assert {(r["task_id"], r["index"]) for r in again} == {(r["task_id"], r["index"]) for r in rows}


def test_previous_labels_are_kept_beside_ours(tmp_path, problems):
    pool = write(tmp_path / "pool.jsonl", [{**POOL[2], "passed": False, "result": "failed: old"}])
    out = tmp_path / "out.jsonl"
    label_pool(problems, pool, out, workers=1, limits=LIMITS)
    (row,) = rows_of(out)
    assert (row["passed"], row["previous_passed"], row["previous_result"]) == (
        True,
        False,
        "failed: old",
    )


def test_bad_lines_and_unknown_tasks_are_skipped_with_count_or_named(tmp_path, problems):
    pool = write(
        tmp_path / "pool.jsonl",
        [
            POOL[0],
            '{"task_id": "acme/add", "code": ',
            {"task_id": "acme/nope", "code": "x = 1"},
            {"code": "y"},
        ],
    )
    out = tmp_path / "out.jsonl"
    stats = label_pool(problems, pool, out, workers=1, limits=LIMITS)
    assert stats.labelled == 1 and len(stats.skipped) == 3
    assert any("pool.jsonl:2: malformed JSON" in s for s in stats.skipped)
    assert any("pool.jsonl:3: unknown task_id 'acme/nope'" in s for s in stats.skipped)
    with pytest.raises(DataError, match=r"pool\.jsonl:2: malformed JSON"):
        label_pool(problems, pool, tmp_path / "strict.jsonl", strict=True, limits=LIMITS)


def test_cli_labels_and_reports_errors_in_one_line(tmp_path):
    problems = write(tmp_path / "problems.jsonl", PROBLEMS_RECORDS)
    pool = write(tmp_path / "pool.jsonl", POOL[:3])
    out = tmp_path / "out.jsonl.gz"
    runner = CliRunner()
    args = ["label", "--problems", str(problems), "--pool", str(pool), "--out", str(out)]
    result = runner.invoke(app, [*args, "--workers", "1", "--timeout", "2", "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "labelled 3 candidates (2 passed)" in result.stdout
    assert [r["passed"] for r in rows_of(out)] == [True, False, True]
    again = runner.invoke(app, [*args, "--workers", "1", "--no-cache"])
    assert "3 already done" in again.stdout
    missing = runner.invoke(
        app, ["label", "--problems", "nonesuch", "--pool", str(pool), "--out", str(out)]
    )
    assert missing.exit_code == 1
    assert "error: unknown problem set 'nonesuch'" in missing.output
    assert "Traceback" not in missing.output


def test_ldb_mbpp_sample_agrees_with_its_labels(tmp_path, shared_data):
    """The first 40 MBPP tasks of the LDB pool, relabelled with MBPP's official tests, agree
    with LDB's own verdicts (the full pools: benchmarks/ldb_agreement.py)."""
    from train.loaders import load_problems

    problems = load_problems(shared_data / "mbpp" / "mbpp.jsonl.gz")
    rows = [r for _, r in read_jsonl(shared_data / "pools" / "ldb-mbpp.labeled.jsonl.gz")]
    sample = [r for r in rows if int(r["task_id"].split("/")[1]) < 51]
    pool = write(tmp_path / "pool.jsonl", sample)
    out = tmp_path / "out.jsonl"
    label_pool(problems, pool, out, workers=2, limits=Limits(timeout=3.0))
    labelled = rows_of(out)
    agree = sum(r["passed"] == r["previous_passed"] for r in labelled)
    assert len(labelled) == len(sample) > 200
    assert agree / len(labelled) >= 0.98


def test_ctrl_c_keeps_finished_labels_and_rerun_completes(tmp_path):
    """The real CLI process, interrupted with SIGINT mid-run: exit code 130, every finished row
    kept, no worker left running; the same command then labels only what is missing."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    problems = write(
        tmp_path / "problems.jsonl",
        [
            {
                "task_id": f"t/{i}",
                "prompt": "def f():\n",
                "entry_point": "f",
                "tests": ["assert f() == 1"],
            }
            for i in range(6)
        ],
    )
    pool = write(
        tmp_path / "pool.jsonl",
        [
            {
                "task_id": f"t/{i}",
                "code": f"import time\ndef f():\n    time.sleep({0.05 + i / 100 if i < 2 else 3 + i / 100})\n    return 1\n",
            }
            for i in range(6)
        ],
    )
    out = tmp_path / "out.jsonl"
    cli = Path(sys.executable).with_name("toppass-train")
    command = [
        str(cli),
        "label",
        "--problems",
        str(problems),
        "--pool",
        str(pool),
        "--out",
        str(out),
    ]
    command += ["--workers", "1", "--no-cache"]

    def deliverable_sigint() -> None:
        # as at a terminal: whatever this test process inherited or set (an ignored or
        # blocked SIGINT passes to children through exec), the CLI gets a default Ctrl-C
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=deliverable_sigint,
    )
    # two quick candidates, then four slow ones: a window of 12 s to interrupt in, however
    # loaded the machine is
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
        not out.exists() or len(out.read_text().splitlines()) < 2
    ):
        time.sleep(0.05)
    status = Path(f"/proc/{proc.pid}/status").read_text()
    masks = [line for line in status.splitlines() if line.startswith(("SigBlk", "SigIgn"))]
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, (stderr, masks)
    assert "interrupted" in stderr and "Traceback" not in stderr
    kept = rows_of(out)
    assert 2 <= len(kept) < 6
    time.sleep(0.2)
    from procs import sandbox_processes

    assert [pid for pid, parent in sandbox_processes().items() if parent == proc.pid] == []
    command[-2] = "2"  # --workers
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(kept)} already done" in rerun.stdout
    assert sorted(r["task_id"] for r in rows_of(out)) == [f"t/{i}" for i in range(6)]
