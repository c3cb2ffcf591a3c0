"""`train.probe`: the linear probe that says what a trained head weighs."""

import pytest
import torch

from train.probe import linear_probe

NAMES = ("count_share", "exec_pass_fraction", "exec_available")


def slate(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def test_a_linear_score_is_recovered_per_standard_deviation_whatever_each_problems_offset():
    features = {
        "a": slate([[0.5, 1.0, 1.0], [0.25, 0.0, 1.0], [0.25, 0.5, 1.0]]),
        "b": slate([[0.1, 0.0, 1.0], [0.9, 1.0, 1.0]]),
        "c": slate([[0.3, 0.5, 1.0], [0.3, 1.0, 1.0], [0.4, 0.0, 1.0]]),
    }
    offsets = {"a": 5.0, "b": -3.0, "c": 0.0}  # the order within a problem ignores these
    scores = {
        task: [offsets[task] + 2.0 * float(x[0]) - 3.0 * float(x[1]) for x in matrix]
        for task, matrix in features.items()
    }
    probe = linear_probe(features, scores, NAMES)
    assert probe is not None
    assert probe.r2 == pytest.approx(1.0, abs=1e-6)
    assert set(probe.weights) == {"count_share", "exec_pass_fraction"}  # the flag never varies
    centred = torch.cat([m - m.mean(dim=0) for m in features.values()]).double()
    spread = centred.pow(2).mean(dim=0).sqrt()
    assert probe.weights["count_share"] == pytest.approx(2.0 * float(spread[0]), rel=1e-4)
    assert probe.weights["exec_pass_fraction"] == pytest.approx(-3.0 * float(spread[1]), rel=1e-4)
    assert (probe.problems, probe.programs) == (3, 8)
    table = probe.markdown()
    assert table.index("exec_pass_fraction") < table.index("count_share")  # larger first


def test_scores_the_features_do_not_explain_give_a_low_r2():
    features = {"a": slate([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])}
    scores = {"a": [1.0, -1.0, -1.0, 1.0]}  # exclusive or: no linear part at all
    probe = linear_probe(features, scores, NAMES)
    assert probe is not None and probe.r2 == pytest.approx(0.0, abs=1e-6)


def test_nothing_to_explain_and_mismatched_shapes():
    one = {"a": slate([[0.5, 1.0, 1.0]])}
    assert linear_probe(one, {"a": [1.0]}, NAMES) is None  # single-program problems say nothing
    flat = {"a": slate([[0.5, 1.0, 1.0], [0.5, 1.0, 1.0]])}
    assert linear_probe(flat, {"a": [1.0, 2.0]}, NAMES) is None  # no feature varies
    assert linear_probe(flat, {"b": [1.0, 2.0]}, NAMES) is None  # no scores for its problems
    with pytest.raises(ValueError, match="features"):
        linear_probe(flat, {"a": [1.0, 2.0, 3.0]}, NAMES)
