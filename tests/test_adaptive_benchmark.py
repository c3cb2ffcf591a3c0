"""The adaptive-sampling replay (`benchmarks/adaptive_sampling.py`) on a tiny pool: the rule
the server uses decides how many answers each replayed request draws, and both lists are
ranked as served."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from ranker.order import StoppingRule
from train.pools import Pool, PoolCandidate
from train.problems import Problem

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "adaptive_sampling.py"
PROMPT = 'def add(a: int, b: int) -> int:\n    """Return a plus b."""\n'
RIGHT = PROMPT + "    return a + b\n"
ALSO_RIGHT = PROMPT + "    return b + a\n"
WRONG = PROMPT + "    return a - b\n"


def load_benchmark() -> Any:
    spec = importlib.util.spec_from_file_location("adaptive_sampling", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def pool_of(rows: dict[str, list[str]]) -> Pool:
    return Pool(
        [
            PoolCandidate(task, i, code=code, passed=code != WRONG, meta={"seed": i})
            for task, codes in rows.items()
            for i, code in enumerate(codes)
        ]
    )


PROBLEMS = {
    task: Problem(
        task, PROMPT, "add", "assert add(2, 2) == 4", visible_tests=("assert add(1, 2) == 3",)
    )
    for task in ("agree", "split", "wrong-first")
}
POOL = pool_of(
    {
        # the first four agree (two spellings of one passing behaviour, three answers): settled
        # with the examples run; without, no one program holds over 3/4
        "agree": [RIGHT, ALSO_RIGHT, RIGHT, WRONG] + [WRONG] * 12,
        "split": [RIGHT, WRONG] * 8,  # never settled: all 16 drawn
        # four identical wrong answers: settled without execution, and wrongly
        "wrong-first": [WRONG] * 4 + [RIGHT] * 12,
    }
)


def test_requests_cut_each_problem_into_requests_of_n():
    adaptive = load_benchmark()
    cut = adaptive.requests(POOL, 8)
    assert [(r.key, len(r.rows)) for r in cut] == [
        ("agree#0", 8),
        ("agree#1", 8),
        ("split#0", 8),
        ("split#1", 8),
        ("wrong-first#0", 8),
        ("wrong-first#1", 8),
    ]
    shuffled = adaptive.requests(POOL, 16, seed=1)
    assert [r.key for r in shuffled] == ["agree#0", "split#0", "wrong-first#0"]
    assert sorted(c.index for c in shuffled[0].rows) == list(range(16))
    assert [c.index for c in shuffled[0].rows] != list(range(16))
    assert adaptive.requests(POOL, 16, seed=1) == shuffled  # fixed seeds, fixed orders
    # a problem with fewer rows than N is one shorter request
    assert [len(r.rows) for r in adaptive.requests(pool_of({"agree": [RIGHT] * 5}), 16)] == [5]


def test_drawn_follows_the_rounds():
    adaptive = load_benchmark()
    rule = StoppingRule()
    assert adaptive.drawn(rule, 16, lambda m: True) == 4
    assert adaptive.drawn(rule, 16, lambda m: False) == 16
    assert adaptive.drawn(rule, 3, lambda m: True) == 3  # one round: nothing to stop early


@pytest.mark.parametrize("execution", [True, False])
def test_replay_draws_what_the_rule_allows_and_ranks_both_lists(
    execution, execution_ranker, tmp_path
):
    adaptive = load_benchmark()
    result = adaptive.replay(
        "tiny",
        "pool order",
        POOL,
        PROBLEMS,
        execution_ranker,
        StoppingRule(),
        16,
        None,
        execution=execution,
        bootstrap=50,
        run_cache=tmp_path / "runs.jsonl",
    )
    assert result.requests == 3 and result.fixed_samples == 16
    if execution:
        # "agree" stops at 4; "split" and "wrong-first" (a failing majority) draw all 16
        assert result.adaptive_samples == pytest.approx((4 + 16 + 16) / 3)
        # the passing program is first in every list, with four answers or sixteen
        assert result.fixed[1] == result.adaptive[1] == 1.0
        assert result.difference[1] == (0.0, 0.0, 0.0)
    else:
        # only "wrong-first" is settled, on four identical wrong answers: its list is lost
        assert result.adaptive_samples == pytest.approx((16 + 16 + 4) / 3)
        assert result.adaptive[3] < result.fixed[3]
    assert result.to_json()["fewer"] == pytest.approx(1 - result.adaptive_samples / 16, abs=1e-4)
