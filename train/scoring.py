"""Scoring slates (a problem's distinct programs) with a ranker, as training and evaluation both
do: from cached backbone embeddings where the backbone is frozen (only the head runs), else
through the whole model; feature groups from each slate's signals."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ranker.model.features import feature_matrix, group_slices
from ranker.model.ranker import Ranker
from ranker.signals.types import Signals
from train.embeddings import EmbeddingCache, cache_namespace, embed_pairs
from train.slates import Slate


def resolve_device(device: str) -> torch.device:
    """`auto` (CUDA where there is one, else the CPU) or a torch device name; an unknown or
    absent device is a ValueError naming it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"unknown device {device!r} (auto, cpu, cuda, cuda:1, mps ...)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: no CUDA device is available here (use cpu)")
    return resolved


class SlateScorer:
    """Scores padded batches of slates, from cached embeddings (frozen backbone) or by running
    the backbone (fine-tuning). `indices[b]` picks which programs of slate b enter the batch.

    `features` (task_id -> `[n_programs, F]`) feed a ranker with feature groups. While
    training, each group of each slate is dropped (zeroed, its `available` flag with it) with
    probability `group_dropout`, so the ranker also learns to rank without that signal."""

    def __init__(
        self,
        ranker: Ranker,
        embeddings: dict[str, torch.Tensor] | None,
        features: dict[str, torch.Tensor] | None = None,
        group_dropout: float = 0.0,
        generator: torch.Generator | None = None,
        text_dropout: float = 0.0,
    ) -> None:
        self.ranker = ranker
        self.embeddings = embeddings  # task_id -> [n_programs, H] when frozen
        self.features = features
        self.group_dropout = group_dropout
        self.text_dropout = text_dropout
        self.generator = generator
        self.slices = list(group_slices(ranker.config.features).values())

    def _features(
        self, slates: Sequence[Slate], indices: Sequence[Sequence[int]], width: int
    ) -> torch.Tensor | None:
        names = self.ranker.feature_names
        if not names:
            return None
        out = torch.zeros(len(slates), width, len(names))
        for b, (slate, ix) in enumerate(zip(slates, indices, strict=True)):
            if self.features is not None and slate.task_id in self.features:
                out[b, : len(ix)] = self.features[slate.task_id][list(ix)]
            if self.ranker.training and self.group_dropout > 0:
                for columns in self.slices:
                    if torch.rand((), generator=self.generator) < self.group_dropout:
                        out[b, :, columns] = 0.0
        return out.to(self.ranker.device)

    def __call__(
        self, slates: Sequence[Slate], indices: Sequence[Sequence[int]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        device = self.ranker.device
        width = max(len(ix) for ix in indices)
        labels = torch.zeros(len(slates), width, device=device)
        mask = torch.zeros(len(slates), width, dtype=torch.bool, device=device)
        for b, (slate, ix) in enumerate(zip(slates, indices, strict=True)):
            labels[b, : len(ix)] = torch.tensor([float(slate.labels[i]) for i in ix])
            mask[b, : len(ix)] = True
        features = self._features(slates, indices, width)
        if self.embeddings is not None:
            hidden = self.ranker.hidden_size
            vectors = torch.zeros(len(slates), width, hidden, device=device)
            for b, (slate, ix) in enumerate(zip(slates, indices, strict=True)):
                if (
                    self.ranker.training
                    and self.text_dropout > 0
                    and torch.rand((), generator=self.generator) < self.text_dropout
                ):
                    continue  # this slate's text is hidden: rank it from its features
                vectors[b, : len(ix)] = self.embeddings[slate.task_id][list(ix)].to(device)
            scores = self.ranker.score_pooled(vectors, features)
        else:
            problems = [
                slate.problem for slate, ix in zip(slates, indices, strict=True) for _ in ix
            ]
            programs = [
                slate.programs[i] for slate, ix in zip(slates, indices, strict=True) for i in ix
            ]
            flat_features = features[mask] if features is not None else None
            flat = self.ranker(self.ranker.encode(problems, programs), flat_features)
            scores = torch.zeros(len(slates), width, device=device, dtype=flat.dtype)
            scores = scores.masked_scatter(mask, flat)
        return scores.masked_fill(~mask, 0.0), labels, mask


def slate_features(
    ranker: Ranker, slates: Sequence[Slate], signals: Mapping[str, Signals] | None
) -> dict[str, torch.Tensor] | None:
    """Each slate's `[n, F]` feature matrix for `ranker`'s groups (None: it has none)."""
    if not ranker.feature_names:
        return None
    signals = signals or {}
    return {
        s.task_id: feature_matrix(len(s.programs), signals.get(s.task_id), ranker.config.features)
        for s in slates
    }


def score_all(scorer: SlateScorer, slates: Sequence[Slate], batch: int = 16) -> list[list[float]]:
    """Scores of every program of every slate (eval mode, no gradient)."""
    was_training = scorer.ranker.training
    scorer.ranker.eval()
    out: list[list[float]] = []
    try:
        with torch.inference_mode():
            for start in range(0, len(slates), batch):
                chunk = slates[start : start + batch]
                indices = [list(range(len(s.programs))) for s in chunk]
                scores, _, _ = scorer(chunk, indices)
                out += [scores[b, : len(ix)].float().tolist() for b, ix in enumerate(indices)]
    finally:
        scorer.ranker.train(was_training)
    return out


def slate_embeddings(
    ranker: Ranker,
    slates: Sequence[Slate],
    cache_dir: str | Path,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
    needed: Mapping[str, Sequence[bool]] | None = None,
) -> dict[str, torch.Tensor]:
    """Each slate's pooled backbone vectors `[n_programs, H]`, from (and into) the embedding
    cache in `cache_dir` (`train.embeddings`); `progress(done, total)` over the programs
    embedded. With `needed` (task id -> per program), only those programs are embedded; the
    others' vectors are zeros (the head does not read them)."""

    if not ranker.config.text:  # the head reads no text: nothing to embed
        return {slate.task_id: torch.zeros(len(slate.programs), 0) for slate in slates}

    def wanted(slate: Slate, index: int) -> bool:
        return needed is None or slate.task_id not in needed or needed[slate.task_id][index]

    pairs = [(s.problem, p) for s in slates for i, p in enumerate(s.programs) if wanted(s, i)]
    cache = EmbeddingCache(cache_dir, cache_namespace(ranker))
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, len(pairs))

    vectors = embed_pairs(ranker, pairs, cache, batch_size, on_batch)
    result: dict[str, torch.Tensor] = {}
    offset = 0
    for slate in slates:
        rows = [i for i in range(len(slate.programs)) if wanted(slate, i)]
        slate_vectors = torch.zeros(len(slate.programs), ranker.hidden_size)
        if rows:
            slate_vectors[rows] = vectors[offset : offset + len(rows)].to(slate_vectors.dtype)
        result[slate.task_id] = slate_vectors
        offset += len(rows)
    return result


def ranker_scores(
    ranker: Any,
    slates: Sequence[Slate],
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
    signals: Mapping[str, Signals] | None = None,
    cache_dir: str | Path | None = None,
) -> list[list[float]]:
    """Scores of a `ranker.Ranker` for every slate (with each slate's signals where the
    ranker takes features); `progress(done, total)` as work finishes.

    With `cache_dir` and a frozen backbone, pooled vectors come from (and go to) the embedding
    cache that `toppass-train fit` uses, so only the head runs for programs seen before; the
    scores are those `Ranker.score` gives."""
    signals = signals or {}
    if cache_dir is not None and ranker.config.backbone_frozen:
        return _cached_ranker_scores(ranker, slates, batch_size, progress, signals, cache_dir)
    result = []
    for done, slate in enumerate(slates, start=1):
        result.append(
            ranker.score(
                slate.problem,
                list(slate.programs),
                signals.get(slate.task_id),
                batch_size=batch_size,
            )
        )
        if progress is not None:
            progress(done, len(slates))
    return result


def _cached_ranker_scores(
    ranker: Any,
    slates: Sequence[Slate],
    batch_size: int,
    progress: Callable[[int, int], None] | None,
    signals: Mapping[str, Signals],
    cache_dir: str | Path,
) -> list[list[float]]:
    total = sum(len(slate.programs) for slate in slates)
    features = slate_features(ranker, slates, signals)
    # the backbone runs only for the programs whose text the head reads (Ranker.reads_text)
    needed = {task: ranker.reads_text(f) for task, f in features.items()} if features else None
    embeddings = slate_embeddings(ranker, slates, cache_dir, batch_size, progress, needed)
    scorer = SlateScorer(ranker, embeddings, features)
    scores = score_all(scorer, slates)
    if progress is not None:
        progress(total, total)
    return scores
