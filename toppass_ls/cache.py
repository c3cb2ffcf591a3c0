"""Ranked results per function, keyed by document URI, the function's qualified name and its
header (decorators, signature and docstring): what the candidates were asked for.

The body is not part of the key: applying a candidate replaces it, and the list must then still
offer the others (applying one replaces the previous); undo, typing in the body or edits
elsewhere in the file keep the list too. Changing the signature or the docstring asks for new
candidates. Settings that change what is sampled or how it is ranked clear the cache (the
server does). A bounded LRU map.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

from ranker.source import FunctionContext

T = TypeVar("T")

CacheKey = tuple[str, str, str]


def cache_key(uri: str, ctx: FunctionContext) -> CacheKey:
    return (uri, ctx.qualname, ctx.header)


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
