"""Pooled backbone embeddings of (problem, program) pairs, computed once and kept on disk.

With a frozen backbone only the score head trains, so every pair's pooled vector is a
constant: computing it once turns an epoch into a few matrix products. The cache is keyed by
the backbone, every config field that changes the backbone's input or pooling, and a hash of
the pair's text, so a change of template or budget never reuses stale vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ranker.cache import cache_home
from ranker.local_models import inference_dtype
from ranker.model.ranker import Ranker

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """The embedding cache under the cache home (`ranker.cache`)."""
    return cache_home() / "embeddings"


def cache_namespace(ranker: Ranker) -> str:
    """Identifies everything upstream of the head: backbone weights source, input, and the
    dtype a frozen backbone computes in (float32 vectors keep their old namespace)."""
    config = ranker.config
    key = {
        "backbone": config.backbone,
        "pooling": ranker.pooling,
        "max_length": config.max_length,
        "input_template": config.input_template,
        "trainable_layers": config.trainable_layers,
    }
    dtype = inference_dtype(ranker.device) if config.backbone_frozen else torch.float32
    if dtype != torch.float32:
        key["dtype"] = str(dtype).removeprefix("torch.")
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def pair_key(problem: str, program: str) -> str:
    return hashlib.sha256(f"{len(problem)}:{problem}{program}".encode()).hexdigest()


class EmbeddingCache:
    """`{pair_key: vector[H]}` for one namespace, in one safetensors file per namespace."""

    def __init__(self, directory: str | Path, namespace: str) -> None:
        self.path = Path(directory) / f"embeddings-{namespace}.safetensors"
        self.vectors: dict[str, torch.Tensor] = {}
        if self.path.is_file():
            self.vectors = dict(load_file(str(self.path)))
            logger.info("loaded %d cached embeddings from %s", len(self.vectors), self.path)
        self._dirty = False

    def save(self) -> None:
        if self._dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            save_file({k: v.contiguous() for k, v in self.vectors.items()}, str(tmp))
            tmp.replace(self.path)
            self._dirty = False

    def add(self, key: str, vector: torch.Tensor) -> None:
        self.vectors[key] = vector.detach().float().cpu()
        self._dirty = True


@torch.inference_mode()
def embed_pairs(
    ranker: Ranker,
    pairs: Sequence[tuple[str, str]],
    cache: EmbeddingCache | None = None,
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
    save_every: int = 2000,
) -> torch.Tensor:
    """Pooled vectors `[len(pairs), H]` (float32, CPU), computing only what the cache lacks.
    `on_batch(n)` reports n newly embedded pairs (for progress)."""
    keys = [pair_key(p, c) for p, c in pairs]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    todo = [i for key, i in first.items() if cache is None or key not in cache.vectors]
    todo.sort(key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))  # similar lengths pad less
    computed: dict[str, torch.Tensor] = {}
    was_training = ranker.training
    ranker.eval()
    since_save = 0
    try:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            batch = ranker.encode([pairs[i][0] for i in chunk], [pairs[i][1] for i in chunk])
            vectors = ranker.embed(batch).float().cpu()
            for i, row in zip(chunk, vectors, strict=True):
                computed[keys[i]] = row
                if cache is not None:
                    cache.add(keys[i], row)
            since_save += len(chunk)
            if cache is not None and since_save >= save_every:
                cache.save()
                since_save = 0
            if on_batch is not None:
                on_batch(len(chunk))
    finally:
        ranker.train(was_training)
        if cache is not None:
            cache.save()

    if not keys:
        return torch.zeros(0, ranker.hidden_size)
    stored = cache.vectors if cache is not None else {}
    return torch.stack([computed[k] if k in computed else stored[k] for k in keys])
