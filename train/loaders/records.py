"""Reading a benchmark's published files: JSON lines (optionally gzipped), a JSON array, or
Parquet (needs `pyarrow`), from a local path or from the Hugging Face hub by dataset id."""

from __future__ import annotations

import fnmatch
import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from train.jsonl import DataError, read_jsonl


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a benchmark file; errors name the file (and line, for JSONL)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    name = path.name.lower()
    if name.endswith(".parquet"):
        return _read_parquet(path)
    if name.endswith((".json", ".json.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a JSON file ({exc})") from None
        if isinstance(data, dict):  # {"id": record, ...}
            data = list(data.values())
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DataError(f"{path}: expected a JSON array of objects")
        return data
    return [record for _, record in read_jsonl(path)]


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow (pip install pyarrow), "
            "or convert the file to JSON lines"
        ) from None
    records: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return records


def hub_records(
    repo_id: str, patterns: Iterable[str], revision: str | None = None
) -> list[dict[str, Any]]:
    """Download the files of Hugging Face dataset `repo_id` whose names match `patterns`
    (fnmatch) and read them. Needs network access; offline, the error says to pass a local
    path in the same schema instead."""
    try:
        from huggingface_hub import HfApi, hf_hub_download
    except ImportError:
        raise DataError("downloading from the Hugging Face hub needs huggingface_hub") from None
    patterns = list(patterns)
    try:
        files = HfApi().list_repo_files(repo_id, repo_type="dataset", revision=revision)
        wanted = sorted(f for f in files if any(fnmatch.fnmatch(f, p) for p in patterns))
        if not wanted:
            raise DataError(f"hub dataset {repo_id} has no file matching {patterns}")
        paths = [
            hf_hub_download(repo_id, name, repo_type="dataset", revision=revision)
            for name in wanted
        ]
    except DataError:
        raise
    except Exception as exc:  # network, auth, offline mode: one clear line
        raise DataError(
            f"cannot download {repo_id} from the Hugging Face hub ({type(exc).__name__}); "
            f"pass a local file in its published schema instead"
        ) from None
    records: list[dict[str, Any]] = []
    for local in paths:
        records.extend(read_records(local))
    return records
