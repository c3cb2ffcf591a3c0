"""Ranked results per function, keyed by document URI, document version and function text.

Any edit to the document gives it a new version, so stale results are never offered; an
unchanged function in an unchanged document finds its results again (the code-action list
shows them without sampling).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")

CacheKey = tuple[str, int | None, str]


def cache_key(uri: str, version: int | None, function_text: str) -> CacheKey:
    return (uri, version, function_text)


class ResultCache(Generic[T]):
    """A small LRU map; the least recently used entry goes when `capacity` is exceeded."""

    def __init__(self, capacity: int = 64) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._entries: OrderedDict[CacheKey, T] = OrderedDict()

    def get(self, key: CacheKey) -> T | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: CacheKey, value: T) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def forget_document(self, uri: str) -> None:
        """Drop every entry of one document (it was closed)."""
        for key in [k for k in self._entries if k[0] == uri]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
