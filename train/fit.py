"""Training a ranker, top to bottom: config -> data -> model -> optimiser -> loop -> eval ->
checkpoint.

Batches are problems: each step scores a few slates (a problem's distinct programs) and applies
the per-problem loss. With a frozen backbone (the CPU fast path) every (problem, program) pair
is embedded once (`train.embeddings`, cached on disk) and only the head trains; otherwise the
top backbone layers train too, on a GPU when there is one. Validation ranked pass@1 picks the
checkpoint. Every epoch writes a resumable checkpoint (safetensors + JSON, nothing pickled);
the run directory ends up holding the best ranker (config.json, model.safetensors, README.md)
beside `run_config.json` (the resolved config and data sources) and `metrics.json`.

Several GPUs: `torchrun --nproc_per_node G -m train.cli fit ...` shards the training slates
over processes and averages gradients (torch.distributed); rank 0 validates and writes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ranker.model.card import ModelCard
from ranker.model.config import RankerConfig
from ranker.model.losses import LossConfig, ranking_loss
from ranker.model.ranker import Ranker
from ranker.signals.types import Signals
from train.embeddings import default_cache_dir
from train.evaluate import evaluate_scores
from train.probe import Probe, linear_probe
from train.scoring import (
    SlateScorer,
    resolve_device,
    score_all,
    slate_embeddings,
    slate_features,
)
from train.slates import Slate

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
RUN_CONFIG_FILE = "run_config.json"
METRICS_FILE = "metrics.json"


@dataclass
class FitConfig:
    """Everything that determines a training run; written resolved to `run_config.json`."""

    ranker: RankerConfig = field(default_factory=RankerConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    epochs: int = 30
    lr: float = 1e-3
    backbone_lr: float = 2e-5
    weight_decay: float = 0.01
    batch_problems: int = 16
    max_candidates: int = 32
    seed: int = 0
    device: str = "auto"
    embed_batch_size: int = 64
    group_dropout: float = 0.3
    text_dropout: float = 0.0
    cache_dir: str = field(default_factory=lambda: str(default_cache_dir()))
    data: dict[str, Any] = field(default_factory=dict)
    init: str | None = None
    """A saved ranker to start from (fine-tuning; `ranker` must then be its config), else the
    head starts from random weights."""

    def __post_init__(self) -> None:
        """Values no run can use fail here, with one line naming the option."""
        for name in ("epochs", "batch_problems", "max_candidates", "embed_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FitError(f"{name} must be a whole number >= 1, got {value!r}")
        for name, high in (("lr", 10.0), ("backbone_lr", 10.0)):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0 < value <= high):
                raise FitError(f"{name} must be a number in (0, {high:g}], got {value!r}")
        for name in ("weight_decay", "group_dropout", "text_dropout"):
            value = getattr(self, name)
            low, high = (0.0, 1.0) if name != "weight_decay" else (0.0, 10.0)
            if not (
                isinstance(value, int | float) and math.isfinite(value) and low <= value <= high
            ):
                raise FitError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["ranker"] = self.ranker.to_dict()
        out["loss"] = dataclasses.asdict(self.loss)
        return out

    def fingerprint(self) -> str:
        """Identity of the run for resuming: everything but where caches live."""
        data = self.to_dict()
        data.pop("cache_dir")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float | None
    val_pass_at_1: float | None


@dataclass
class FitResult:
    out: Path
    best_epoch: int
    history: list[EpochRecord]
    best_metrics: dict[str, Any]
    val_scores: list[list[float]] = field(default_factory=list)


class FitError(RuntimeError):
    """A run that cannot go on (e.g. a resume over a different config); one line."""


def starting_config(init: Path | None, fresh: RankerConfig) -> RankerConfig:
    """The config a fit trains: `fresh`, or with `init` (a saved ranker to fine-tune) that
    ranker's own, whatever `fresh` says."""
    if init is None:
        return fresh
    from ranker.model.ranker import CONFIG_FILE
    from train.jsonl import DataError

    if not (init / CONFIG_FILE).is_file():
        raise DataError(f"--init {init}: not a saved ranker (no {CONFIG_FILE})")
    return RankerConfig.load(init / CONFIG_FILE)


def sample_indices(slate: Slate, limit: int, rng: random.Random) -> list[int]:
    """All programs of a slate, or `limit` of them keeping at least one of each label."""
    n = len(slate.programs)
    if n <= limit:
        return list(range(n))
    positives = [i for i in range(n) if slate.labels[i]]
    negatives = [i for i in range(n) if not slate.labels[i]]
    chosen = []
    if positives and negatives:
        chosen = [rng.choice(positives), rng.choice(negatives)]
    rest = [i for i in range(n) if i not in chosen]
    chosen += rng.sample(rest, limit - len(chosen))
    return sorted(chosen)


def mean_loss(
    scorer: SlateScorer, slates: Sequence[Slate], loss: LossConfig, batch: int = 16
) -> float:
    total, weight = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(slates), batch):
            chunk = slates[start : start + batch]
            scores, labels, mask = scorer(chunk, [list(range(len(s.programs))) for s in chunk])
            total += float(ranking_loss(scores, labels, mask, loss)) * len(chunk)
            weight += len(chunk)
    return total / max(weight, 1)


# -- checkpoints -----------------------------------------------------------------------------


def _trainable_state(ranker: Ranker) -> dict[str, torch.Tensor]:
    names = {n for n, p in ranker.named_parameters() if p.requires_grad}
    return {n: t.detach().cpu().contiguous() for n, t in ranker.state_dict().items() if n in names}


def save_checkpoint(
    directory: Path, ranker: Ranker, optimiser: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    """Trainable weights and Adam moments as safetensors, the rest as JSON; written to a
    temporary folder and renamed, so a kill mid-save leaves the previous checkpoint intact."""
    tmp = directory.with_name(directory.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    save_file(_trainable_state(ranker), str(tmp / "weights.safetensors"))
    opt_state = optimiser.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in opt_state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    save_file(tensors, str(tmp / "optimiser.safetensors"))
    meta = {**state, "param_groups": opt_state["param_groups"], "optimiser_scalars": scalars}
    (tmp / "state.json").write_text(json.dumps(meta, indent=2))
    if directory.exists():
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()
    tmp.rename(directory)


def load_checkpoint(
    directory: Path, ranker: Ranker, optimiser: torch.optim.Optimizer
) -> dict[str, Any]:
    meta = json.loads((directory / "state.json").read_text())
    weights = load_file(str(directory / "weights.safetensors"))
    ranker.load_state_dict(weights, strict=False)
    tensors = load_file(str(directory / "optimiser.safetensors"))
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for index, values in meta.pop("optimiser_scalars").items():
        state.setdefault(int(index), {}).update(values)
    optimiser.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    return dict(meta)


# -- distributed -----------------------------------------------------------------------------


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises torch.distributed when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world


def _average_gradients(params: Sequence[torch.nn.Parameter], world: int) -> None:
    if world == 1:
        return
    for p in params:
        if p.grad is not None:
            torch.distributed.all_reduce(p.grad)
            p.grad /= world


# -- the training path -----------------------------------------------------------------------


def fit(
    config: FitConfig,
    train_slates: Sequence[Slate],
    val_slates: Sequence[Slate],
    out: str | Path,
    progress: Callable[[str, int, int], None] | None = None,
    restart: bool = False,
    signals: Mapping[str, Signals] | None = None,
) -> FitResult:
    """Train a ranker on `train_slates`, pick the epoch with the best validation ranked
    pass@1 on `val_slates` and save it to `out`. `progress(stage, done, total)` reports work.
    An interrupted run resumes from its last finished epoch when called again with the same
    config and `out` (unless `restart`)."""
    report = progress or (lambda stage, done, total: None)
    out = Path(out)
    rank, world = _distributed()
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    device = resolve_device(config.device)

    # data: only slates with both labels teach a ranking loss; BCE learns from every slate
    trainable = (
        [s for s in train_slates if s.mixed] if config.loss.kind == "passk" else list(train_slates)
    )
    if not trainable:
        raise FitError("no training problem has both passing and failing candidates")
    if not val_slates:
        raise FitError("no validation problems")
    shard = trainable[rank::world]

    # model: from random weights, or from a saved ranker (fine-tuning; its calibration
    # describes the old weights, so it goes: the caller fits a new one)
    if config.init is not None:
        ranker = Ranker.from_pretrained(config.init, device=str(device))
        if ranker.config != config.ranker:
            raise FitError(f"--init {config.init}: the config given is not the ranker's own")
        ranker.calibration = None
    else:
        ranker = Ranker(config.ranker).to(device)
    embeddings = None
    if config.ranker.backbone_frozen:
        embeddings = slate_embeddings(
            ranker,
            [*trainable, *val_slates],
            config.cache_dir,
            config.embed_batch_size,
            lambda done, total: report("embedding", done, total),
        )
    features = slate_features(ranker, [*trainable, *val_slates], signals)
    dropout_rng = torch.Generator().manual_seed(config.seed)
    scorer = SlateScorer(
        ranker, embeddings, features, config.group_dropout, dropout_rng, config.text_dropout
    )

    # optimiser: the head learns fast, unfrozen backbone layers slowly
    head_params = list(ranker.head.parameters())
    backbone = ranker.backbone.parameters() if ranker.backbone is not None else iter(())
    backbone_params = [p for p in backbone if p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": head_params, "lr": config.lr}]
    if backbone_params:
        groups.append({"params": backbone_params, "lr": config.backbone_lr})
    optimiser = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    params = head_params + backbone_params

    # resume
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / CHECKPOINT_DIR
    run_config = {"fingerprint": config.fingerprint(), **config.to_dict()}
    start_epoch, best = 0, {"epoch": -1, "pass@1": -1.0, "val_loss": math.inf}
    history: list[EpochRecord] = []
    if checkpoint.is_dir() and not restart:
        saved = json.loads((out / RUN_CONFIG_FILE).read_text()).get("fingerprint")
        if saved != config.fingerprint():
            raise FitError(
                f"{out} holds a run with a different config; use another --out or --restart"
            )
        state = load_checkpoint(checkpoint, ranker, optimiser)
        start_epoch, best = state["epoch"] + 1, state["best"]
        history = [EpochRecord(**h) for h in state["history"]]
        rng.setstate(_rng_from_json(state["rng"]))
        torch.set_rng_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))
        dropout_rng.set_state(torch.tensor(state["dropout_rng"], dtype=torch.uint8))
        logger.info("resuming %s after epoch %d", out, state["epoch"])
    if rank == 0:
        (out / RUN_CONFIG_FILE).write_text(json.dumps(run_config, indent=2) + "\n")

    # loop
    steps_per_epoch = math.ceil(len(shard) / config.batch_problems)
    for epoch in range(start_epoch, config.epochs):
        ranker.train()
        order = list(shard)
        rng.shuffle(order)
        epoch_loss = 0.0
        for step in range(steps_per_epoch):
            batch = order[step * config.batch_problems : (step + 1) * config.batch_problems]
            indices = [sample_indices(s, config.max_candidates, rng) for s in batch]
            scores, labels, mask = scorer(batch, indices)
            loss = ranking_loss(scores, labels, mask, config.loss)
            optimiser.zero_grad()
            loss.backward()
            _average_gradients(params, world)
            optimiser.step()
            epoch_loss += float(loss.detach())
            report(f"epoch {epoch + 1}/{config.epochs}", step + 1, steps_per_epoch)

        # eval (rank 0 decides; every rank keeps identical weights)
        val_scores = score_all(scorer, val_slates)
        val_eval = evaluate_scores("val", val_slates, val_scores, ks=(1,), bootstrap=0)
        val_loss = mean_loss(scorer, val_slates, config.loss)
        record = EpochRecord(epoch, epoch_loss / steps_per_epoch, val_loss, val_eval.ranked[1])
        history.append(record)
        logger.info(
            "epoch %d: train loss %.4f val loss %.4f val pass@1 %.4f",
            epoch + 1,
            record.train_loss,
            val_loss,
            val_eval.ranked[1],
        )
        improved = (val_eval.ranked[1], -val_loss) > (best["pass@1"], -best["val_loss"])
        if rank == 0:
            if improved:
                best = {"epoch": epoch, "pass@1": val_eval.ranked[1], "val_loss": val_loss}
                ranker.save_pretrained(out / "best")
            save_checkpoint(
                checkpoint,
                ranker,
                optimiser,
                {
                    "epoch": epoch,
                    "best": best,
                    "history": [dataclasses.asdict(h) for h in history],
                    "rng": _rng_to_json(rng.getstate()),
                    "torch_rng": torch.get_rng_state().tolist(),
                    "dropout_rng": dropout_rng.get_state().tolist(),
                },
            )

    # checkpoint -> the run directory holds the best ranker
    best_ranker = Ranker.from_pretrained(out / "best", device=str(device))
    best_scores = score_all(SlateScorer(best_ranker, embeddings, features), val_slates)
    best_eval = evaluate_scores("best", val_slates, best_scores)
    probe = (
        linear_probe(
            {s.task_id: features[s.task_id] for s in val_slates},
            {s.task_id: scores for s, scores in zip(val_slates, best_scores, strict=True)},
            best_ranker.feature_names,
        )
        if features is not None
        else None
    )
    metrics = {
        "best_epoch": best["epoch"] + 1,
        "validation": best_eval.to_json(),
        "history": [dataclasses.asdict(h) for h in history],
        "weighs": probe.to_json() if probe is not None else None,
    }
    if rank == 0:
        best_ranker.save_pretrained(out, card=_card(config, best_eval, probe))
        (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return FitResult(out, int(best["epoch"]) + 1, history, metrics, best_scores)


def _card(config: FitConfig, evaluation: Any, probe: Probe | None) -> ModelCard:
    table = ["| k | ranked | random | oracle |", "|---|---|---|---|"]
    for k in evaluation.ranked:
        table.append(
            f"| {k} | {evaluation.ranked[k]:.3f} | {evaluation.random[k]:.3f} | "
            f"{evaluation.oracle:.3f} |"
        )
    return ModelCard(
        training_data=[f"{k}: {v}" for k, v in config.data.items()],
        training_settings={
            "loss": dataclasses.asdict(config.loss),
            "epochs": config.epochs,
            "lr": config.lr,
            "seed": config.seed,
            "batch_problems": config.batch_problems,
        },
        evaluation="Validation (best epoch):\n\n" + "\n".join(table),
        notes=(
            "What it weighs, on the validation problems (`train.probe`):\n\n" + probe.markdown()
            if probe is not None
            else ""
        ),
    )


def _rng_to_json(state: Any) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_from_json(data: list[Any]) -> Any:
    return (data[0], tuple(data[1]), data[2])
