"""How a new job wakes a worker: an in-process event, or a Redis stream whose consumer group
hands each wake-up to one worker in one replica."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

log = structlog.get_logger(__name__)
STREAM = "fwb:jobs"
GROUP = "workers"


class Wakeup(Protocol):
    async def notify(self) -> None: ...

    async def wait(self, seconds: float) -> None:
        """Return when woken, or after `seconds`."""

    async def close(self) -> None: ...


class LocalWakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    async def notify(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return
        self._event.clear()

    async def close(self) -> None:
        self._event.set()


class RedisWakeup:
    def __init__(self, url: str, consumer: str) -> None:
        self._redis = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=None)
        self._consumer = consumer
        self._group_ready = False

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def notify(self) -> None:
        try:
            await self._redis.xadd(STREAM, {"job": "1"}, maxlen=10_000, approximate=True)
        except (RedisError, OSError) as exc:
            # The periodic scan still finds the job; it only starts later.
            log.warning("job_wakeup_not_sent", error=type(exc).__name__)

    async def wait(self, seconds: float) -> None:
        try:
            await self._ensure_group()
            replies: Any = await self._redis.xreadgroup(
                GROUP, self._consumer, {STREAM: ">"}, count=1, block=max(1, int(seconds * 1000))
            )
            for _, messages in replies or []:
                # The database claim is what counts; the message has done its work.
                await self._redis.xack(STREAM, GROUP, *[message_id for message_id, _ in messages])
        except (RedisError, OSError) as exc:
            log.warning("job_wakeup_unavailable", error=type(exc).__name__)
            await asyncio.sleep(seconds)

    async def close(self) -> None:
        await self._redis.aclose()
