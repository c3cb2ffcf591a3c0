"""Where toppass keeps what it can recompute, on this machine: `$XDG_CACHE_HOME/toppass`, else
`~/.cache/toppass` (read when asked, so a changed environment is seen). Under it: `models/`
(de-quantized GGUF weights, `TOPPASS_MODEL_CACHE` overrides), `embeddings/` (pooled backbone
vectors), `visible-runs.jsonl` (programs run on visible tests) and `label-cache.jsonl`
(verdicts). Deleting any of them costs only time."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """`$XDG_CACHE_HOME/toppass`, else `~/.cache/toppass`."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "toppass"
