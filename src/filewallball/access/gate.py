"""Caps on uploads in flight: a few at a time per client, and a ceiling on the bytes all
uploads may be bringing in at once, so that one client cannot starve the others.

Without Redis they are counted in this process's memory. With Redis every replica and worker
counts in one place: each upload holds a lease there, renewed while it runs, so the places of a
process that died free themselves within a lease. While Redis cannot be reached, each process
counts on its own again (and says so in its log) rather than refusing uploads.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import structlog
from redis.exceptions import RedisError

from filewallball import _redis
from filewallball.access.network import client_bucket, normalise
from filewallball.access.roles import Actor
from filewallball.errors import ServiceUnavailable, TooManyRequests
from filewallball.request_context import Client
from filewallball.settings import Settings

log = structlog.get_logger(__name__)

RETRY_AFTER = "5"
LEASE_SECONDS = 30  # a crashed process's uploads stop counting this long after its last renewal


def _too_many(per_client: int) -> TooManyRequests:
    return TooManyRequests(
        f"You already have {per_client} uploads in progress; wait for one to finish.",
        headers={"Retry-After": RETRY_AFTER},
    )


def _too_busy() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The server is receiving as much as it can right now. Try again shortly.",
        headers={"Retry-After": RETRY_AFTER},
    )


def bucket_of(actor: Actor, client: Client) -> str:
    """Whose places an upload takes: the key's, or the address's when there is none."""
    return actor.label if actor.key_id else client_bucket(normalise(client.ip))


class UploadGate(Protocol):
    def admit(self, client: str, reserved: int) -> AbstractAsyncContextManager[None]:
        """Hold a place for an upload of up to `reserved` bytes while it runs; TooManyRequests
        or ServiceUnavailable when there is none."""

    async def close(self) -> None: ...


class LocalGate:
    """Counts this process's uploads only."""

    def __init__(self, per_client: int, max_bytes: int) -> None:
        self.per_client = per_client
        self.max_bytes = max_bytes
        self._active: Counter[str] = Counter()
        self._bytes = 0

    @asynccontextmanager
    async def admit(self, client: str, reserved: int) -> AsyncIterator[None]:
        if self._active[client] >= self.per_client:
            raise _too_many(self.per_client)
        if self._bytes + reserved > self.max_bytes:
            raise _too_busy()
        self._active[client] += 1
        self._bytes += reserved
        try:
            yield
        finally:
            self._active[client] -= 1
            if not self._active[client]:
                del self._active[client]
            self._bytes -= reserved

    async def close(self) -> None:
        return None


# KEYS: the client's uploads (a sorted set: upload → lease end), every upload's reserved bytes
# (a hash: upload → "lease-end bytes"). ARGV: upload, bytes, per-client cap, byte ceiling,
# lease seconds. Expired leases are dropped first; Redis's own clock decides, so replicas
# whose clocks differ still agree. Answers 0 (admitted), 1 (client at its cap), 2 (too busy).
_ADMIT = """
local now = tonumber(redis.call('TIME')[1])
local lease_end = now + tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
local total = 0
local entries = redis.call('HGETALL', KEYS[2])
for i = 1, #entries, 2 do
  local ends, size = string.match(entries[i + 1], '(%d+) (%d+)')
  if tonumber(ends) < now then
    redis.call('HDEL', KEYS[2], entries[i])
  else
    total = total + tonumber(size)
  end
end
if total + tonumber(ARGV[2]) > tonumber(ARGV[4]) then return 2 end
redis.call('ZADD', KEYS[1], lease_end, ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('HSET', KEYS[2], ARGV[1], lease_end .. ' ' .. ARGV[2])
return 0
"""

# Extends an upload's lease (same KEYS; ARGV: upload, bytes, lease seconds).
_RENEW = """
local lease_end = tonumber(redis.call('TIME')[1]) + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], 'XX', lease_end, ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], lease_end .. ' ' .. ARGV[2])
end
return 0
"""


class SharedGate:
    """Counts every replica's uploads in Redis."""

    BYTES_KEY = "fwb:uploads:bytes"

    def __init__(self, url: str, per_client: int, max_bytes: int) -> None:
        self.per_client = per_client
        self.max_bytes = max_bytes
        self._redis = _redis.connect(url)
        self._breaker = _redis.Breaker()
        self._admit = self._redis.register_script(_ADMIT)
        self._renew = self._redis.register_script(_RENEW)
        self._fallback = LocalGate(per_client, max_bytes)

    @staticmethod
    def _client_key(client: str) -> str:
        return f"fwb:uploads:client:{client}"

    @asynccontextmanager
    async def admit(self, client: str, reserved: int) -> AsyncIterator[None]:
        upload = uuid.uuid4().hex
        keys = [self._client_key(client), self.BYTES_KEY]
        answer = await self._ask(keys, upload, reserved)
        if answer is None:  # Redis is out of reach: this process counts on its own meanwhile
            async with self._fallback.admit(client, reserved):
                yield
            return
        if answer == 1:
            raise _too_many(self.per_client)
        if answer == 2:
            raise _too_busy()
        renewing = asyncio.create_task(self._keep(keys, upload, reserved))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(RedisError, OSError):  # else its lease runs out
                async with self._redis.pipeline(transaction=True) as release:
                    release.zrem(keys[0], upload)
                    release.hdel(keys[1], upload)
                    await release.execute()

    async def _ask(self, keys: list[str], upload: str, reserved: int) -> int | None:
        if self._breaker.open:
            return None
        try:
            answer = await self._admit(
                keys=keys,
                args=[upload, reserved, self.per_client, self.max_bytes, LEASE_SECONDS],
            )
        except (RedisError, OSError) as exc:
            self._breaker.failed()
            log.warning("upload_gate_local", reason=str(exc) or type(exc).__name__)
            return None
        self._breaker.succeeded()
        return int(answer)

    async def _keep(self, keys: list[str], upload: str, reserved: int) -> None:
        """Renew the lease while the upload runs."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            with contextlib.suppress(RedisError, OSError):  # the next renewal may get through
                await self._renew(keys=keys, args=[upload, reserved, LEASE_SECONDS])

    async def close(self) -> None:
        await self._redis.aclose()


def create_gate(settings: Settings) -> UploadGate:
    if settings.redis_url:
        return SharedGate(
            settings.redis_url, settings.max_uploads_per_client, settings.max_inflight_upload_bytes
        )
    return LocalGate(settings.max_uploads_per_client, settings.max_inflight_upload_bytes)
