"""An in-process TTL cache: the embedded default, private to each process."""

from __future__ import annotations

import time

from cachetools import TLRUCache


def _expires(_key: str, entry: tuple[float, bytes], now: float) -> float:
    return now + entry[0]


class MemoryCache:
    name = "memory"

    def __init__(self, ttl: int, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._entries: TLRUCache[str, tuple[float, bytes]] = TLRUCache(
            maxsize=max_entries, ttu=_expires, timer=time.monotonic
        )

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        return entry[1] if entry is not None else None

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        self._entries[key] = (ttl or self._ttl, value)

    async def add(self, key: str, value: bytes) -> None:
        if self._entries.get(key) is None:
            self._entries[key] = (self._ttl, value)

    async def replace(self, key: str, expected: bytes, value: bytes) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry[1] == expected:
            self._entries[key] = (self._ttl, value)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
