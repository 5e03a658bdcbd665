"""An in-process TTL cache: the embedded default, private to each process."""

from __future__ import annotations

from cachetools import TTLCache


class MemoryCache:
    name = "memory"

    def __init__(self, ttl: int, max_entries: int = 10_000) -> None:
        self._entries: TTLCache[str, bytes] = TTLCache(maxsize=max_entries, ttl=ttl)

    async def get(self, key: str) -> bytes | None:
        return self._entries.get(key)

    async def set(self, key: str, value: bytes) -> None:
        self._entries[key] = value

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
