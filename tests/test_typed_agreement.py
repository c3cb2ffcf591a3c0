"""A function problem without visible tests runs on inputs built from its parameter types
(unjudged) in training and evaluation, as in the editor: the runs say which programs agree."""

import json
from pathlib import Path
from typing import Any

import pytest
from pool_eval import eval_answers

from train.problems import Problem
from train.signals import execution_signals, visible_probes
from train.slates import Slate

PROMPT = 'def total(xs: list[int]) -> int:\n    """The sum of xs."""\n'
RIGHT = PROMPT + "    return sum(xs)\n"
RIGHT_TOO = PROMPT + "    n = 0\n    for x in xs:\n        n += x\n    return n\n"
WRONG = PROMPT + "    return max(xs)\n"
PROBLEM = {
    "task_id": "acme/total",
    "prompt": PROMPT,
    "entry_point": "total",
    "tests": ["assert total([1, 2, 3]) == 6", "assert total([5]) == 5"],
}


def test_problems_without_examples_run_on_typed_inputs_unjudged(tmp_path):
    typed = Problem("acme/total", PROMPT, entry_point="total")
    probes = visible_probes(typed)
    assert len(probes) == 6 and not any(p.judged for p in probes)
    assert all(p.call is not None and p.call.startswith("total([") for p in probes)
    untyped = Problem("acme/f", "def f(xs):\n    pass\n", entry_point="f")
    assert visible_probes(untyped) == []
    slate = Slate(
        "acme/total", PROMPT, (RIGHT, RIGHT_TOO, WRONG), (True, True, False), counts=(1, 1, 3)
    )
    signals = execution_signals([slate], {"acme/total": typed}, cache_path=tmp_path / "runs")
    execution = signals["acme/total"].execution
    assert execution is not None and not execution.judged
    assert execution.clusters[0] == execution.clusters[1] != execution.clusters[2]
    assert execution.cluster_shares == pytest.approx((0.4, 0.4, 0.6))


def test_eval_ranks_typed_problems_by_agreement(tmp_path: Path):
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps(PROBLEM) + "\n")
    answers: list[dict[str, Any]] = [
        {"code": WRONG, "passed": False},
        {"code": RIGHT, "passed": True},
        {"code": RIGHT_TOO, "passed": True},
        {"code": PROMPT + "    return len(xs)\n", "passed": False},
        {"code": PROMPT + "    return min(xs)\n", "passed": False},
    ]
    payload = eval_answers(problems, tmp_path / "pool.jsonl", "acme/total", answers)
    assert payload["settings"]["problems_with_visible_tests"] == 0
    assert payload["settings"]["problems_with_typed_inputs"] == 1
    assert payload["random"]["pass@1"] == pytest.approx(2 / 5)
    # the two right programs agree on every input, each wrong one is alone: whatever the
    # head thinks of the texts, the agreeing pair comes first (2 answers against 1)
    assert payload["baselines"]["execution"]["pass@1"] == 1.0
    assert payload["baselines"]["sample-count"]["pass@1"] == pytest.approx(2 / 5)
