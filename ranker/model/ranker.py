"""`Ranker`: backbone + pooling + score head, saved and loaded Hugging Face style."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ranker.local_models import inference_dtype
from ranker.model.backbone import is_causal_lm, load_backbone, pool, set_trainable_layers
from ranker.model.calibration import (
    CALIBRATION_FILE,
    Calibration,
    CalibrationError,
    weights_digest,
)
from ranker.model.card import ModelCard
from ranker.model.config import RankerConfig, RankerConfigError
from ranker.model.encoding import encode_pairs
from ranker.model.features import feature_matrix, feature_names
from ranker.order import finite, serve, serve_order
from ranker.signals.defects import static_defects
from ranker.signals.types import Signals

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"

POOLED_KEPT = 4096
"""Pooled vectors a ranker with a frozen backbone keeps (384 floats each for MiniLM: 6 MB)."""
BATCH_SIZE = 16
"""Pairs per backbone pass when serving: on 2 CPU cores 16 is about 10% faster than 32 for
HumanEval-sized pairs, in float32 and bfloat16 alike."""


def _pair_key(problem: str, candidate: str) -> str:
    return hashlib.sha256(f"{len(problem)}:{problem}{candidate}".encode()).hexdigest()


class ScoreHead(nn.Module):
    """MLP from a pooled vector `[B, H]` to one score per row `[B]`."""

    def __init__(self, in_dim: int, hidden: Sequence[int], dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for out in hidden:
            layers += [nn.Dropout(dropout), nn.Linear(width, out), nn.GELU()]
            width = out
        layers += [nn.Dropout(dropout), nn.Linear(width, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled).squeeze(-1)


class Ranker(nn.Module):
    """Scores (problem, candidate code) pairs; higher means more likely to pass.

    Build one from a config (`Ranker(config)` loads the backbone it names) or from a saved
    directory (`Ranker.from_pretrained(path)`). Scores are unbounded logits; `torch.sigmoid`
    turns a BCE-trained score into a probability, a pass@k-trained one into a monotone 0-1 value.
    """

    def __init__(
        self,
        config: RankerConfig | None = None,
        *,
        backbone: nn.Module | None = None,
        tokenizer: Any = None,
    ) -> None:
        super().__init__()
        self.config = config or RankerConfig()
        self.backbone: Any = None
        self.tokenizer = tokenizer
        self.pooling = self.config.pooling
        self.hidden_size = 0  # a ranker without text: the head reads the features alone
        if self.config.text:
            if backbone is None or tokenizer is None:
                backbone, tokenizer = load_backbone(self.config.backbone)
            self.backbone, self.tokenizer = backbone, tokenizer
            if self.pooling == "auto":
                self.pooling = "last" if is_causal_lm(backbone) else "mean"
            backbone_config: Any = backbone.config
            self.hidden_size = int(backbone_config.hidden_size)
            set_trainable_layers(self.backbone, self.config.trainable_layers)
        self.feature_names = feature_names(self.config.features)
        self.head = ScoreHead(
            self.hidden_size + len(self.feature_names), self.config.head_hidden, self.config.dropout
        )
        self._pooled_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._pooled_lock = threading.Lock()
        self.calibration: Calibration | None = None  # calibration.json, where the dir has one
        self._dtype_settled_on: torch.device | None = None  # see _settle_backbone_dtype

    def train(self, mode: bool = True) -> Ranker:
        super().train(mode)
        if self.config.backbone_frozen and self.backbone is not None:
            self.backbone.eval()  # a frozen backbone must not apply dropout while the head trains
        return self

    @property
    def device(self) -> torch.device:
        return next(self.head.parameters()).device

    # -- computation ---------------------------------------------------------------------

    def encode(self, problems: Sequence[str], candidates: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenized, padded pairs on this ranker's device."""
        batch = encode_pairs(self.tokenizer, problems, candidates, self.config)
        return {name: tensor.to(self.device) for name, tensor in batch.items()}

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pooled backbone representation `[B, H]` of an encoded batch."""
        inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        backbone_config: Any = self.backbone.config
        if "token_type_ids" in batch and getattr(backbone_config, "type_vocab_size", None):
            inputs["token_type_ids"] = batch["token_type_ids"]
        if self.config.backbone_frozen:
            self._settle_backbone_dtype()
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.backbone_frozen):
            hidden = self.backbone(**inputs).last_hidden_state
        return pool(hidden.float(), batch["attention_mask"], self.pooling)

    @property
    def backbone_dtype(self) -> torch.dtype:
        """The dtype the backbone computes in: float32, or for a frozen backbone what
        `inference_dtype` picks for this device (set on first use)."""
        if self.backbone is None:
            return torch.float32
        return next(self.backbone.parameters()).dtype

    def _settle_backbone_dtype(self) -> None:
        """A frozen backbone never trains, so it may compute in the device's fast dtype; the
        pooled vectors are float32 either way. Decided once per device, not per batch."""
        device = self.device
        if self._dtype_settled_on == device:
            return
        wanted = inference_dtype(device)
        if self.backbone_dtype != wanted:
            self.backbone.to(wanted)
        self._dtype_settled_on = device

    def score_pooled(
        self, pooled: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Scores `[...]` from pooled vectors `[..., H]` and, for a ranker with feature groups,
        their features `[..., F]` (None: every group absent, i.e. zeros)."""
        if not self.feature_names:
            return self.head(pooled)
        if features is None:
            features = pooled.new_zeros(*pooled.shape[:-1], len(self.feature_names))
        features = features.to(pooled.dtype)
        if not self.config.text_with_execution and "exec_available" in self.feature_names:
            ran = self.feature_names.index("exec_available")
            pooled = pooled * (1.0 - features[..., ran : ran + 1])  # text only where none ran
        return self.head(torch.cat([pooled, features], dim=-1))

    def forward(
        self, batch: dict[str, torch.Tensor], features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Scores `[B]` of an encoded batch (and its `[B, F]` features, if any)."""
        return self.score_pooled(self.embed(batch), features)

    # -- inference -----------------------------------------------------------------------

    def reads_text(self, features: torch.Tensor | None) -> list[bool]:
        """Per row of `features`, whether the head reads the text: always, except for a ranker
        trained without text beside execution (`text_with_execution` false), on a program
        whose examples ran. The backbone need not run for the others."""
        if not self.config.text:
            return [False] * (len(features) if features is not None else 0)
        if features is None or self.config.text_with_execution:
            return [True] * (len(features) if features is not None else 0)
        if "exec_available" not in self.feature_names:
            return [True] * len(features)
        ran = features[:, self.feature_names.index("exec_available")]
        return [bool(value < 0.5) for value in ran.tolist()]

    def pooled(
        self, problem: str, candidates: Sequence[str], batch_size: int = BATCH_SIZE
    ) -> torch.Tensor:
        """Pooled backbone vectors `[N, H]` of (problem, candidate) pairs, in input order.
        Batches group similar lengths so padding stays small. With a frozen backbone the
        vectors are kept (the `POOLED_KEPT` most recently used), so a program seen before
        costs nothing: the editor embeds answers as they arrive, and asks again at the end."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        keys = [_pair_key(problem, candidate) for candidate in candidates]
        out = torch.zeros(len(candidates), self.hidden_size)
        todo = []
        for i, key in enumerate(keys):
            kept = self._kept(key)
            if kept is None:
                todo.append(i)
            else:
                out[i] = kept
        by_length = sorted(todo, key=lambda i: (len(candidates[i]), i))
        for start in range(0, len(by_length), batch_size):
            chunk = by_length[start : start + batch_size]
            batch = self.encode([problem] * len(chunk), [candidates[i] for i in chunk])
            vectors = self.embed(batch).float().cpu()
            for row, i in enumerate(chunk):
                out[i] = vectors[row]
                self._keep(keys[i], vectors[row])
        return out

    def forget_pooled(self) -> None:
        """Drop the kept pooled vectors (benchmarks measure the backbone with it)."""
        with self._pooled_lock:
            self._pooled_cache.clear()

    def _kept(self, key: str) -> torch.Tensor | None:
        if not self.config.backbone_frozen:
            return None
        with self._pooled_lock:
            vector = self._pooled_cache.get(key)
            if vector is not None:
                self._pooled_cache.move_to_end(key)
            return vector

    def _keep(self, key: str, vector: torch.Tensor) -> None:
        if not self.config.backbone_frozen:
            return
        with self._pooled_lock:
            self._pooled_cache[key] = vector.clone()
            self._pooled_cache.move_to_end(key)
            while len(self._pooled_cache) > POOLED_KEPT:
                self._pooled_cache.popitem(last=False)

    @torch.inference_mode()
    def score(
        self,
        problem: str,
        candidates: Sequence[str],
        signals: Signals | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> list[float]:
        """One score per candidate, in input order. `signals` (aligned with `candidates`) feed
        the feature groups of a ranker that has them; missing groups count as absent.
        Identical candidates are scored once, and the backbone runs only for programs whose
        text the head reads (`reads_text`), once per program (`pooled`)."""
        features = None
        if self.feature_names:
            features = feature_matrix(len(candidates), signals, self.config.features)
        was_training = self.training
        if was_training:  # eval() walks every module: not on each request when already so
            self.eval()
        try:
            first: dict[str, int] = {}
            for i, candidate in enumerate(candidates):
                first.setdefault(candidate, i)
            unique = list(first)
            rows = [first[candidate] for candidate in unique]
            unique_features = features[rows] if features is not None else None
            reads = self.reads_text(unique_features) if unique_features is not None else None
            read = [i for i in range(len(unique)) if reads is None or reads[i]]
            pooled = torch.zeros(len(unique), self.hidden_size)
            if read:
                pooled[read] = self.pooled(problem, [unique[i] for i in read], batch_size)
            head_features = unique_features.to(self.device) if unique_features is not None else None
            values = self.score_pooled(pooled.to(self.device), head_features).float().tolist()
        finally:
            if was_training:
                self.train()
        lookup = dict(zip(unique, values, strict=True))
        return [lookup[c] for c in candidates]

    def with_cross_model_signals(
        self, signals: Signals | None, counts: Sequence[int], defects: Sequence[str | None]
    ) -> Signals | None:
        """`signals` with the sample counts (independent: the editor's answers are) and the
        static defects, where this ranker's feature groups read them."""
        groups = set(self.config.features)
        if not groups & {"sampling", "agreement", "defects"}:
            return signals
        base = signals or Signals()
        return dataclasses.replace(
            base,
            counts=base.counts if base.counts is not None else list(counts),
            defects=base.defects if base.defects is not None else list(defects),
        )

    def rank(
        self,
        problem: str,
        candidates: Sequence[str],
        top_k: int | None = None,
        signals: Signals | None = None,
        diverse: bool = True,
        batch_size: int = BATCH_SIZE,
        counts: Sequence[int] | None = None,
        entry_point: str | None = None,
        defects: Sequence[str | None] | None = None,
    ) -> list[tuple[int, float]]:
        """(index, score) pairs best first, cut to `top_k`, in the serving order
        (`ranker.order`, which says how execution signals, static defects, sample counts,
        the reviewer likelihood and behaviour clusters decide it). `defects` default to
        `static_defects` of the candidates for the function `entry_point` (default: the
        prompt's last `def`), `counts` to 1 each; `diverse` off keeps the plain score order."""
        counts = list(counts) if counts is not None else [1] * len(candidates)
        if defects is None:
            defects = static_defects(problem, candidates, entry_point)
        signals = self.with_cross_model_signals(signals, counts, defects)
        scores = serve(
            finite(self.score(problem, candidates, signals, batch_size=batch_size)),
            counts,
            defects,
            signals,
            learned=self.config.served == "learned",
        )
        order = serve_order(scores, signals, diverse)
        if top_k is not None:
            order = order[:top_k]
        return [(i, scores[i]) for i in order]

    # -- persistence ---------------------------------------------------------------------

    def trained_state_dict(self) -> dict[str, torch.Tensor]:
        """What a save must hold: the head, plus the backbone unless it stayed frozen."""
        state = self.state_dict()
        if self.config.backbone_frozen:
            state = {k: v for k, v in state.items() if k.startswith("head.")}
        return {k: v.detach().contiguous().cpu() for k, v in state.items()}

    def save_pretrained(self, directory: str | Path, card: ModelCard | None = None) -> Path:
        """Write config.json, model.safetensors and a model card README.md, and the ranker's
        `calibration` as calibration.json (tied to these weights; a calibration.json left there
        by other weights is removed when it has none); returns the dir."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / CONFIG_FILE)
        metadata = {
            "format": "toppass-ranker/1",
            "contains_backbone": json.dumps(not self.config.backbone_frozen),
        }
        save_file(self.trained_state_dict(), str(directory / WEIGHTS_FILE), metadata=metadata)
        card = card or ModelCard()
        (directory / CARD_FILE).write_text(card.render(self.config), encoding="utf-8")
        self.save_calibration(directory)
        return directory

    def save_calibration(self, directory: str | Path) -> None:
        """Write `calibration` into a saved ranker's `directory`, tied to the weights there
        (or remove a calibration.json there when this ranker has none)."""
        path = Path(directory) / CALIBRATION_FILE
        if self.calibration is None:
            path.unlink(missing_ok=True)
            return
        digest = weights_digest(Path(directory) / WEIGHTS_FILE)
        self.calibration = dataclasses.replace(self.calibration, weights=digest)
        self.calibration.save(path)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | None = None) -> Ranker:
        """Load a ranker saved by `save_pretrained`. `device`: e.g. "cpu", "cuda"; default
        CUDA when available."""
        directory = Path(directory).expanduser()
        if not directory.is_dir():
            raise RankerConfigError(f"ranker directory not found: {directory}")
        config = RankerConfig.load(directory / CONFIG_FILE)
        weights = directory / WEIGHTS_FILE
        if not weights.is_file():
            raise RankerConfigError(f"ranker weights not found: {weights}")
        ranker = cls(config)
        try:
            state = load_file(str(weights))
        except Exception as exc:  # safetensors raises its own error types for damaged files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RankerConfigError(
                f"{weights} is not a readable safetensors file: {first}"
            ) from None
        try:
            missing, unexpected = ranker.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # a tensor of the wrong shape
            first = str(exc).strip().splitlines()[-1].strip()
            raise RankerConfigError(f"{weights} does not match its config: {first}") from None
        missing_head = [k for k in missing if k.startswith("head.")]
        if missing_head or unexpected or (not config.backbone_frozen and missing):
            raise RankerConfigError(
                f"{weights} does not match its config: missing {missing_head or missing}, "
                f"unexpected {unexpected}"
            )
        ranker.calibration = _load_calibration(directory)
        ranker.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        ranker.eval()
        return ranker


def _load_calibration(directory: Path) -> Calibration | None:
    """The calibration.json in a ranker directory; None where there is none, or where it was
    fitted for other weights (logged: its probabilities would not describe these scores). A
    damaged one is a `RankerConfigError` naming it."""
    path = directory / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        calibration = Calibration.load(path)
    except CalibrationError as exc:
        raise RankerConfigError(str(exc)) from None
    if calibration.weights is not None and calibration.weights != weights_digest(
        directory / WEIGHTS_FILE
    ):
        logger.warning("%s was fitted for other weights: ignored (refit it)", path)
        return None
    return calibration
