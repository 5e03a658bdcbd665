"""A Redis cache shared by every replica. Errors surface as CacheUnavailable."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from filewallball.cache.base import CacheUnavailable

KEY_PREFIX = "fwb:"


class RedisCache:
    name = "redis"

    def __init__(self, url: str, ttl: int) -> None:
        # Short timeouts: an unreachable Redis must cost a request milliseconds, not seconds.
        self._redis = Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=10
        )
        self._ttl = ttl

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(KEY_PREFIX + key)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        try:
            await self._redis.set(KEY_PREFIX + key, value, ex=ttl or self._ttl)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    async def add(self, key: str, value: bytes) -> None:
        try:
            await self._redis.set(KEY_PREFIX + key, value, ex=self._ttl, nx=True)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    async def delete(self, key: str) -> None:
        try:
            await self._redis.delete(KEY_PREFIX + key)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    async def close(self) -> None:
        await self._redis.aclose()
