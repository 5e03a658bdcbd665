"""How a new job wakes a worker: an in-process event, or a Redis stream whose consumer group
hands each wake-up to one worker in one replica."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import structlog
from redis.exceptions import RedisError, ResponseError

from filewallball import _redis

log = structlog.get_logger(__name__)
STREAM = "fwb:jobs"
GROUP = "workers"


class Wakeup(Protocol):
    async def open(self) -> None:
        """Hear of every job notified from now on; called before the first look for jobs, so
        that a job queued in between is either found by that look or heard of after it."""

    async def notify(self) -> None: ...

    async def wait(self, seconds: float) -> None:
        """Return when woken, or after `seconds`."""

    async def close(self) -> None: ...


class LocalWakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    async def open(self) -> None:
        pass  # an event is heard from the moment it exists

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
    """Wake-ups through a Redis stream. Redis failing, hanging or restarting empty never stops
    the jobs: `notify` gives up within a fraction of a second, `wait` falls back to sleeping
    and tries Redis again every RETRY_SECONDS, re-creating the consumer group if it is gone."""

    BLOCK_SECONDS = 5.0  # one XREADGROUP blocks at most this long; `wait` repeats it
    RETRY_SECONDS = 1.0

    def __init__(self, url: str, consumer: str) -> None:
        self._redis = _redis.connect(url)
        # Only the blocking read may wait longer than a command: its socket timeout outlasts
        # its block, on a client of its own.
        self._reader = _redis.connect(url, socket_timeout=self.BLOCK_SECONDS + 1.0)
        self._breaker = _redis.Breaker()
        self._consumer = consumer
        self._group_ready = False
        self._failing = False

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def open(self) -> None:
        # A group begun after a notification never hands it out: begun before the first look.
        with contextlib.suppress(RedisError, OSError):
            await self._ensure_group()  # or, failing, by `wait`, which tries again

    async def notify(self) -> None:
        if self._breaker.open:
            return  # Redis failed a moment ago: the periodic scan finds the job
        try:
            await self._redis.xadd(STREAM, {"job": "1"}, maxlen=10_000, approximate=True)
        except (RedisError, OSError) as exc:
            self._breaker.failed()
            # The periodic scan still finds the job; it only starts later.
            log.warning("job_wakeup_not_sent", error=type(exc).__name__)

    async def wait(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (remaining := deadline - loop.time()) > 0:
            try:
                # A Redis restarted without its data has no group: NOGROUP until re-created.
                await self._ensure_group()
                block = min(remaining, self.BLOCK_SECONDS)
                replies: Any = await self._reader.xreadgroup(
                    GROUP, self._consumer, {STREAM: ">"}, count=1, block=max(1, int(block * 1000))
                )
                self._breaker.succeeded()  # Redis answered: so may `notify`
                woken = [message_id for _, messages in replies or [] for message_id, _ in messages]
                if woken:
                    # The database claim is what counts; the message has done its work, even
                    # if its acknowledgement fails (it then only stays pending).
                    with contextlib.suppress(RedisError, OSError):
                        await self._redis.xack(STREAM, GROUP, *woken)
            except (RedisError, OSError) as exc:
                self._group_ready = False
                if not self._failing:
                    self._failing = True
                    log.warning("job_wakeup_unavailable", error=type(exc).__name__)
                await asyncio.sleep(min(remaining, self.RETRY_SECONDS))
                continue
            if self._failing:
                self._failing = False
                log.info("job_wakeup_restored")
            if woken:
                return

    async def close(self) -> None:
        await self._redis.aclose()
        await self._reader.aclose()
