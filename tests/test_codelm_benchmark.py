"""The code-LM benchmark (`benchmarks/codelm_ranker.py`). Its cut backbone: running the frozen
bottom once and the trained top on its kept output gives the whole model's states, so a CPU
can train the top layers without changing what is measured."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "codelm_ranker.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("codelm_ranker", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_llama():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=5,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return transformers.LlamaModel(config).eval()


def test_bottom_then_top_equals_the_whole_model_with_padding():
    codelm = load_benchmark()
    base = tiny_llama()
    ids = torch.randint(1, 50, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0  # right padding, as the benchmark pads
    mask[2, 3:] = 0
    with torch.no_grad():
        whole = base(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        split = codelm.SplitBackbone(base, trained_layers=2)
        states = split.bottom_states(ids, mask)
        assert [len(x) for x in states] == [9, 6, 3]
        hidden, last = split.top_hidden(states, "cpu")
    assert last.tolist() == [8, 5, 2]
    for i, n in enumerate([9, 6, 3]):
        torch.testing.assert_close(hidden[i, :n], whole[i, :n], atol=1e-5, rtol=1e-4)
    # the model is whole again afterwards
    assert len(base.layers) == 5 and not isinstance(base.norm, torch.nn.Identity)


def test_the_cut_trains_only_the_top():
    codelm = load_benchmark()
    base = tiny_llama()
    split = codelm.SplitBackbone(base, trained_layers=2)
    assert list(split.top) == list(base.layers)[3:]
    states = split.bottom_states(torch.randint(1, 50, (2, 5)), torch.ones(2, 5, dtype=torch.long))
    assert all(not x.requires_grad for x in states)
    hidden, last = split.top_hidden(states, "cpu")
    hidden[torch.arange(2), last].sum().backward()
    assert all(p.grad is not None for p in split.top.parameters())
    assert all(p.grad is None for p in split.bottom.parameters())


def test_held_out_pick_breaks_ties_by_the_first_program():
    codelm = load_benchmark()
    slates = [{"labels": [False, True]}, {"labels": [True, False]}]
    assert codelm.ranked_pass_at_1(slates, [[1.0, 1.0], [0.0, 2.0]]) == 0.0
    assert codelm.ranked_pass_at_1(slates, [[0.0, 1.0], [1.0, 1.0]]) == 1.0


def test_a_cell_over_seeds_gives_the_mean_and_each_seed():
    codelm = load_benchmark()
    runs = [{1: 0.75, 3: 0.9}, {1: 0.70, 3: 0.8}, {1: 0.65, 3: 1.0}]
    assert codelm.seeds_cell(runs) == "0.700 / 0.900 (0.750, 0.700, 0.650)"
    assert codelm.seeds_cell(runs[:1]) == "0.750 / 0.900"
