"""Signals that carry across the models that wrote the candidates (issue: the learned ranker
must earn its place): sample counts of independent answers, behaviour agreement, static
defects and the generator's log-probabilities as feature groups, a ranker that reads them
without any text, and its own score as the served order."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ranker.model.config import RankerConfig, RankerConfigError
from ranker.model.features import feature_matrix, feature_names
from ranker.model.ranker import Ranker
from ranker.order import DEFECT_PENALTY, learned_scores
from ranker.signals.types import ExecutionSignals, ProgramRun, Signals
from train.pools import read_pool
from train.problems import Problem
from train.slates import build_slates

GROUPS = ("sampling", "agreement", "defects", "generator")


def runs(*signatures: str) -> tuple[ProgramRun, ...]:
    return tuple(ProgramRun(0, 0, 0, 0, (s,)) for s in signatures)


def test_feature_groups_read_counts_agreement_defects_and_the_generator() -> None:
    execution = ExecutionSignals(0, runs("=1", "=2", "=1"), (0, 1, 0), (0.5, 0.25, 0.5))
    signals = Signals(
        execution=execution,
        counts=[1, 1, 2],
        defects=[None, "empty body", "name 'x' is not defined"],
        generator=[-0.5, None, -1.5],
    )
    matrix = feature_matrix(3, signals, GROUPS)
    assert matrix.shape == (3, len(feature_names(GROUPS)))
    row = dict(zip(feature_names(GROUPS), matrix[2].tolist(), strict=True))
    assert row["count_available"] == 1.0 and row["count_share"] == pytest.approx(0.5)
    assert row["count_top"] == 1.0 and row["count_log_z"] > 0
    # programs 0 and 2 behave alike: 3 of the 4 answers agree
    assert row["agree_share"] == pytest.approx(0.75) and row["agree_top"] == 1.0
    assert row["defect_any"] == 1.0 and row["defect_undefined"] == 1.0
    assert row["defect_empty"] == 0.0
    assert dict(zip(feature_names(GROUPS), matrix[1].tolist(), strict=True))["defect_empty"] == 1.0
    assert row["gen_available"] == 1.0 and row["gen_logprob_z"] < 0  # the least likely
    # absent signals: the group is all zeros, its available flag with it
    empty = feature_matrix(3, Signals(), GROUPS)
    assert torch.count_nonzero(empty) == 0


def test_a_ranker_without_text_loads_no_backbone_and_round_trips(tmp_path: Path) -> None:
    with pytest.raises(RankerConfigError, match="needs feature groups"):
        RankerConfig(text=False)
    with pytest.raises(RankerConfigError, match="served"):
        RankerConfig(served="guess")  # type: ignore[arg-type]
    config = RankerConfig(text=False, features=GROUPS, served="learned", head_hidden=(4,))
    torch.manual_seed(0)
    ranker = Ranker(config)
    assert ranker.backbone is None and ranker.hidden_size == 0
    saved = ranker.save_pretrained(tmp_path / "r")
    assert json.loads((saved / "config.json").read_text())["text"] is False
    loaded = Ranker.from_pretrained(saved, device="cpu")
    problem = "def f(x):\n    'Return x twice.'\n"
    programs = [
        "def f(x):\n    return 2 * x\n",
        "def f(x):\n    pass\n",
        "def f(x):\n    return x + x\n",
    ]
    ranked = loaded.rank(problem, programs, counts=[3, 5, 1], entry_point="f")
    # served by the head's own score; the body that does nothing last whatever its count
    assert ranked[-1][0] == 1 and ranked[-1][1] < -DEFECT_PENALTY / 2
    scores = loaded.score(
        problem, programs, Signals(counts=[3, 5, 1], defects=[None, "empty body", None])
    )
    assert all(math.isfinite(s) for s in scores)


def test_learned_scores_are_the_heads_with_an_empty_body_last() -> None:
    assert learned_scores([1.0, 3.0, 2.0], [None, "empty body", "f() returns nothing"]) == [
        1.0,
        3.0 - DEFECT_PENALTY,
        2.0,
    ]


def test_slates_know_whether_their_answers_were_independent(tmp_path: Path) -> None:
    problem = Problem("t/1", "def f(x):\n    'Return x.'\n", "f", tests="assert f(1) == 1\n")
    rows = {
        "sampled.jsonl": [{"seed": 3}, {"seed": 4}],
        "said.jsonl": [{"independent": True}, {"independent": True}],
        "repairs.jsonl": [{"sources": ["seed:a"]}, {"sources": ["ldb:a:iter1"]}],
    }
    found = {}
    for name, metas in rows.items():
        path = tmp_path / name
        lines = [
            {"task_id": "t/1", "code": "def f(x):\n    return x\n", "passed": True, **meta}
            for meta in metas
        ]
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        (slate,) = build_slates(read_pool(path), {"t/1": problem}).slates
        found[name] = (slate.independent, slate.counts)
    assert found == {
        "sampled.jsonl": (True, (2,)),
        "said.jsonl": (True, (2,)),
        "repairs.jsonl": (False, (2,)),
    }
