"""No cache at all: every read goes to the database.

For several worker processes without Redis: a private cache in each would let the others serve a
deleted file until their entry expires, and the database answers a metadata read fast enough.
"""

from __future__ import annotations


class PassThroughCache:
    name = "none"

    async def get(self, key: str) -> bytes | None:
        return None

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        return None

    async def add(self, key: str, value: bytes) -> None:
        return None

    async def replace(self, key: str, expected: bytes, value: bytes) -> None:
        return None

    async def delete(self, key: str) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
