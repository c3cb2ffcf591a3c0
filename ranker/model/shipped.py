"""Where the shipped default ranker lives, and loading "a ranker path or the default"."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ranker.local_models import MODEL_LOAD_LOCK
from ranker.model.config import RankerConfig
from ranker.model.ranker import CONFIG_FILE, WEIGHTS_FILE, Ranker

logger = logging.getLogger(__name__)

DEFAULT_RANKER_DIR = Path(__file__).resolve().parents[1] / "weights" / "default"


UNTRAINED_WARNING = (
    "no trained ranker is shipped yet and rankerPath is not set: using an untrained ranker "
    "(the order of candidates is close to random); train one with toppass-train and set "
    "rankerPath"
)


def default_ranker_path() -> Path | None:
    """The shipped default ranker directory, or None while none is shipped."""
    if (DEFAULT_RANKER_DIR / CONFIG_FILE).is_file() and (
        DEFAULT_RANKER_DIR / WEIGHTS_FILE
    ).is_file():
        return DEFAULT_RANKER_DIR
    return None


def load_ranker(path: str | Path | None = None, device: str = "cpu") -> tuple[Ranker, str | None]:
    """The ranker at `path`, else the shipped default, else an untrained default-config ranker.

    Returns (ranker, warning): the warning is set (and logged) when falling back to the
    untrained ranker. A `path` that cannot be loaded raises `RankerConfigError`.
    """
    with MODEL_LOAD_LOCK:
        if path is not None:
            return Ranker.from_pretrained(path, device=device), None
        shipped = default_ranker_path()
        if shipped is not None:
            return Ranker.from_pretrained(shipped, device=device), None
        logger.warning(UNTRAINED_WARNING)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # the same untrained head in every process
            ranker = Ranker(RankerConfig()).to(device)
    ranker.eval()
    return ranker, UNTRAINED_WARNING
