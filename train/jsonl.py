"""Streamed JSON lines, optionally gzipped: every file format of the toolkit.

Reading names the file and line of anything malformed; appending flushes each record so an
interrupted run loses nothing it finished.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal


class DataError(ValueError):
    """Bad input data; the message is one line naming the file and, where known, the line."""


def _open_text(path: Path, mode: Literal["rt", "wt"]) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, mode, encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def read_jsonl(
    path: str | Path, resuming: bool = False, skipped: list[str] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; raise `DataError` on the first
    line that is not a JSON object, or, when a `skipped` list is given, append the message
    there and go on. `resuming` skips a final line cut short by a killed writer (no trailing
    newline), which is how an interrupted output file ends."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    try:
        with _open_text(path, "rt") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    if resuming and not line.endswith("\n"):
                        return
                    problem = f"{path}:{number}: malformed JSON ({exc.msg})"
                else:
                    if isinstance(record, dict):
                        yield number, record
                        continue
                    problem = f"{path}:{number}: expected a JSON object per line"
                if skipped is None:
                    raise DataError(problem)
                skipped.append(problem)
    except EOFError:
        if not resuming:  # a gzip member cut short by a killed writer
            raise DataError(f"{path}: truncated gzip data") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records to a new file (replacing it); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with _open_text(path, "wt") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


class JsonlAppender:
    """Append records one at a time, each flushed at once (gzip: one member per record, which
    gzip readers concatenate), so a killed run keeps everything written before it died."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._gzip = self.path.suffix == ".gz"
        self._handle: IO[bytes] = open(self.path, "ab")  # noqa: SIM115 - closed in close()

    def append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        self._handle.write(gzip.compress(data) if self._gzip else data)
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
