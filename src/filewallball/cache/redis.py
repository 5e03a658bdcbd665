"""A Redis cache shared by every replica. Errors surface as CacheUnavailable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from filewallball import _redis
from filewallball.cache.base import CacheUnavailable

KEY_PREFIX = "fwb:"
# Compare and set in one step on the server: nothing can be written between the two.
_REPLACE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return false
"""


class RedisCache:
    name = "redis"

    def __init__(self, url: str, ttl: int) -> None:
        # Short timeouts and a breaker: an unreachable or frozen Redis must cost a request
        # milliseconds, not seconds, and only the first request after it fails.
        self._redis = _redis.SharedConnection(url)
        self._breaker = _redis.Breaker()
        self._ttl = ttl

    async def _call(self, command: Callable[[], Awaitable[Any]], *, always: bool = False) -> Any:
        if self._breaker.open and not always:
            raise CacheUnavailable("paused after a failure")
        try:
            result = await command()
        except (RedisError, OSError) as exc:
            self._breaker.failed()
            raise CacheUnavailable(str(exc) or type(exc).__name__) from exc
        self._breaker.succeeded()
        return result

    async def get(self, key: str) -> bytes | None:
        value = await self._call(lambda: self._redis.call("GET", KEY_PREFIX + key))
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        await self._call(
            lambda: self._redis.call("SET", KEY_PREFIX + key, value, "EX", ttl or self._ttl)
        )

    async def add(self, key: str, value: bytes) -> None:
        await self._call(
            lambda: self._redis.call("SET", KEY_PREFIX + key, value, "EX", self._ttl, "NX")
        )

    async def replace(self, key: str, expected: bytes, value: bytes) -> None:
        await self._call(
            lambda: self._redis.script(
                _REPLACE, keys=[KEY_PREFIX + key], args=[expected, value, self._ttl]
            )
        )

    async def delete(self, key: str) -> None:
        await self._call(lambda: self._redis.call("DEL", KEY_PREFIX + key))

    async def ping(self) -> None:
        # The health check always asks Redis itself, so that it sees a recovery at once.
        await self._call(lambda: self._redis.call("PING"), always=True)

    async def close(self) -> None:
        await self._redis.aclose()
