"""`toppass-train eval --json` with the shipped ranker on a pool written from a few labelled
answers to one problem: how the eval tests of each kind of problem (stdin/stdout, APPS,
typed parameters) run it (import as `from pool_eval import eval_answers`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from typer.testing import CliRunner


def eval_answers(
    problems: str | Path, pool: Path, task_id: str, answers: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Write `answers` ({"code", "passed"} each) as `pool` for `task_id`, evaluate it against
    `problems` (a `--problems` spec) with execution on, and return the JSON payload."""
    from train.cli import app

    pool.write_text(
        "".join(
            json.dumps({"task_id": task_id, "index": i, **answer}) + "\n"
            for i, answer in enumerate(answers)
        )
    )
    command = ["eval", "--problems", problems, "--pool", pool, "--json", "--bootstrap", "0"]
    command += ["--workers", "2", "--no-cache", "--device", "cpu"]
    result = CliRunner().invoke(app, [str(c) for c in command], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload
