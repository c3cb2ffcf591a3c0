"""Training on tiny synthetic slates with a tiny random backbone (seconds)."""

import json

import pytest
import torch
from safetensors.torch import load_file

from ranker import LossConfig, Ranker, RankerConfig
from train.evaluate import evaluate_scores, length_scores
from train.fit import FitConfig, FitError, fit
from train.slates import Slate


def synthetic_slates(prefix: str, count: int) -> list[Slate]:
    """Correct programs sort, wrong ones reverse or drop items: a learnable textual signal."""
    slates = []
    for i in range(count):
        problem = f'def f{i}(xs):\n    """Return xs in ascending order."""\n'
        programs = (
            problem + "    return sorted(xs)\n",
            problem + "    return list(reversed(xs))\n",
            problem + "    return xs[1:]\n",
            problem + f"    return xs[:{i % 3 + 1}]\n",
        )
        slates.append(
            Slate(f"{prefix}/{i}", problem, programs, (True, False, False, False), (1,) * 4)
        )
    return slates


@pytest.fixture
def config(tiny_encoder_dir, tmp_path):
    ranker = RankerConfig(
        backbone=str(tiny_encoder_dir), head_hidden=(16,), max_length=96, dropout=0.0
    )
    return FitConfig(
        ranker=ranker,
        loss=LossConfig(ks=(1, 2)),
        epochs=6,
        lr=5e-3,
        batch_problems=4,
        seed=0,
        device="cpu",
        cache_dir=str(tmp_path / "cache"),
    )


@pytest.mark.parametrize("trainable_layers", [0, 1])
def test_fit_lowers_validation_loss_and_saves_best(config, tmp_path, trainable_layers):
    config.ranker = config.ranker.replace(trainable_layers=trainable_layers)
    train, val = synthetic_slates("train", 12), synthetic_slates("val", 6)
    result = fit(config, train, val, tmp_path / "run")
    losses = [h.val_loss for h in result.history]
    assert len(losses) == config.epochs
    assert min(losses[1:]) < losses[0]
    out = tmp_path / "run"
    for name in (
        "config.json",
        "model.safetensors",
        "README.md",
        "run_config.json",
        "metrics.json",
    ):
        assert (out / name).is_file(), name
    run_config = json.loads((out / "run_config.json").read_text())
    assert (
        run_config["loss"]["ks"] == [1, 2]
        and run_config["ranker"]["trainable_layers"] == trainable_layers
    )
    metrics = json.loads((out / "metrics.json").read_text())
    best = max(h.val_pass_at_1 for h in result.history)
    assert metrics["validation"]["ranked"]["pass@1"] == pytest.approx(best, abs=1e-4)
    # The saved ranker reproduces the recorded validation metric.
    ranker = Ranker.from_pretrained(out, device="cpu")
    scores = [ranker.score(s.problem, list(s.programs)) for s in val]
    assert evaluate_scores("r", val, scores).ranked[1] == pytest.approx(best, abs=1e-4)


def test_interrupted_fit_resumes_to_the_same_result(config, tmp_path):
    train, val = synthetic_slates("train", 12), synthetic_slates("val", 6)
    config.ranker = config.ranker.replace(dropout=0.1)  # RNG state must survive the resume
    fit(config, train, val, tmp_path / "straight")

    class Interrupt(Exception):
        pass

    def interrupt_in_epoch_4(stage: str, done: int, total: int) -> None:
        if stage.startswith("epoch 4/"):
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(config, train, val, tmp_path / "resumed", progress=interrupt_in_epoch_4)
    state = json.loads((tmp_path / "resumed" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2  # epochs 1-3 (0-based 0..2) finished before the interrupt
    result = fit(config, train, val, tmp_path / "resumed")
    assert [h.epoch for h in result.history] == list(range(config.epochs))
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_resume_over_a_different_config_is_refused(config, tmp_path):
    train, val = synthetic_slates("train", 6), synthetic_slates("val", 3)
    config.epochs = 1
    fit(config, train, val, tmp_path / "run")
    config.lr = 1e-2
    with pytest.raises(FitError, match="different config"):
        fit(config, train, val, tmp_path / "run")
    fit(config, train, val, tmp_path / "run", restart=True)


def test_fit_needs_mixed_problems(config, tmp_path):
    only_pass = [Slate("t/0", "p", ("a", "b"), (True, True), (1, 1))]
    with pytest.raises(FitError, match="both passing and failing"):
        fit(config, only_pass, only_pass, tmp_path / "run")


def test_length_baseline_and_evaluation_shape():
    slates = synthetic_slates("val", 3)
    ev = evaluate_scores("length-only", slates, length_scores(slates), bootstrap=100)
    data = ev.to_json()
    assert set(data) >= {"ranker", "problems", "candidates", "ranked", "random", "oracle"}
    assert list(data["ranked"]) == ["pass@1", "pass@2", "pass@3", "pass@5", "pass@10"]
    assert data["problems"] == 3 and data["candidates"] == 12 and data["oracle"] == 1.0
    assert data["random"]["pass@1"] == pytest.approx(0.25)
    lo, hi = data["ranked_ci95"]["pass@1"]
    assert lo <= data["ranked"]["pass@1"] <= hi
