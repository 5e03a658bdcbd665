"""The cache seam: short-lived copies of metadata, shared by every replica when in Redis."""

from __future__ import annotations

from typing import Protocol


class CacheUnavailable(Exception):
    """The cache cannot be reached; reads fall back to the database."""


class Cache(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None:
        """The value, or None on a miss. Raises CacheUnavailable."""

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        """Store for `ttl` seconds (the configured TTL when None). Raises CacheUnavailable."""

    async def add(self, key: str, value: bytes) -> None:
        """Store with the configured TTL unless the key is present. Raises CacheUnavailable."""

    async def replace(self, key: str, expected: bytes, value: bytes) -> None:
        """Store with the configured TTL only if the key holds exactly `expected` now, in one
        step: a value written in between wins. Raises CacheUnavailable."""

    async def delete(self, key: str) -> None:
        """Raises CacheUnavailable: a failed invalidation must not pass silently."""

    async def ping(self) -> None:
        """Raises CacheUnavailable unless the cache answers."""

    async def close(self) -> None: ...
