"""One request at a time per resumable upload, whichever replica it reaches.

A request holds its upload's lock while it writes, as a lease renewed as it goes, so that the
lock of a process that died frees itself within LEASE_SECONDS. The lock lives in Redis when one
is configured, in the upload's row otherwise, and in the row too while Redis cannot be reached.

The lock makes a second writer fail at once (423) instead of after sending its bytes; it is not
what keeps an upload whole. That is the offset: a chunk counts only if the offset it started
from is still the upload's when its row commits (see repository.advance), so two writers that
both got in, say during a switch from Redis to the database, still give one winner.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Protocol

import anyio
import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball import _redis
from filewallball.db import transaction, utcnow
from filewallball.errors import Locked
from filewallball.resumable import repository

log = structlog.get_logger(__name__)

LEASE_SECONDS = 10.0  # how long a dead process's lock outlives it
RENEW_EVERY = LEASE_SECONDS / 3


def _locked() -> Locked:
    return Locked(
        "Another request is writing to this upload. Ask for its offset again shortly.",
        headers={"Retry-After": "2"},
    )


class UploadLocks(Protocol):
    def hold(self, upload_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the upload's lock while the block runs; Locked when another request holds it."""

    async def close(self) -> None: ...


@asynccontextmanager
async def _leased(renew: Callable[[], Awaitable[object]]) -> AsyncIterator[None]:
    """Run the block while `renew` extends the lease in the background."""

    async def keep() -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            with contextlib.suppress(RedisError, SQLAlchemyError, OSError):
                await renew()  # the next renewal may get through

    renewing = asyncio.create_task(keep())
    try:
        yield
    finally:
        renewing.cancel()


class DatabaseLocks:
    """The lock as a token and a lease end in the upload's row."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @asynccontextmanager
    async def hold(self, upload_id: str) -> AsyncIterator[None]:
        token = uuid.uuid4().hex
        if not await self._take(upload_id, token):
            raise _locked()
        try:
            async with _leased(lambda: self._renew(upload_id, token)):
                yield
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(SQLAlchemyError):
                async with transaction(self._sessions) as session:
                    await repository.release_lock(session, upload_id, token)

    async def _take(self, upload_id: str, token: str) -> bool:
        now = utcnow()
        async with transaction(self._sessions) as session:
            return await repository.take_lock(
                session, upload_id, token, now, now + timedelta(seconds=LEASE_SECONDS)
            )

    async def _renew(self, upload_id: str, token: str) -> None:
        async with transaction(self._sessions) as session:
            until = utcnow() + timedelta(seconds=LEASE_SECONDS)
            await repository.renew_lock(session, upload_id, token, until)

    async def close(self) -> None:
        return None


# KEYS: the lock. ARGV: the holder's token, the lease in ms. Only the holder extends or frees it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLocks:
    """The lock as a Redis key with an expiry; the database's while Redis cannot be reached."""

    def __init__(self, url: str, fallback: DatabaseLocks) -> None:
        self._redis = _redis.connect(url)
        self._breaker = _redis.Breaker()
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._fallback = fallback

    @asynccontextmanager
    async def hold(self, upload_id: str) -> AsyncIterator[None]:
        key, token = f"fwb:resumable:lock:{upload_id}", uuid.uuid4().hex
        lease_ms = int(LEASE_SECONDS * 1000)
        taken = await self._take(key, token, lease_ms)
        if taken is None:
            async with self._fallback.hold(upload_id):
                yield
            return
        if not taken:
            raise _locked()
        try:
            async with _leased(lambda: self._renew(keys=[key], args=[token, lease_ms])):
                yield
        finally:
            # Else the lease runs out by itself.
            with anyio.CancelScope(shield=True), contextlib.suppress(RedisError, OSError):
                await self._release(keys=[key], args=[token])

    async def _take(self, key: str, token: str, lease_ms: int) -> bool | None:
        """Whether the lock was free and is ours; None when Redis cannot be asked."""
        if self._breaker.open:
            return None
        try:
            taken = await self._redis.set(key, token, nx=True, px=lease_ms)
        except (RedisError, OSError) as exc:
            self._breaker.failed()
            log.warning("resumable_lock_in_database", reason=str(exc) or type(exc).__name__)
            return None
        self._breaker.succeeded()
        return bool(taken)

    async def close(self) -> None:
        await self._redis.aclose()


def create_locks(redis_url: str | None, sessions: async_sessionmaker[AsyncSession]) -> UploadLocks:
    in_database = DatabaseLocks(sessions)
    return RedisLocks(redis_url, in_database) if redis_url else in_database
