"""Rate limits per client and route class, on the `limits` library's moving window.

In memory by default; in Redis when FWB_REDIS_URL is set, so every replica counts against the
same window. The Redis storage updates a window and its expiry in one Lua script, so a crash
can never leave a counter without an expiry (and a client banned forever).
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

from filewallball import _redis
from filewallball.settings import Settings

log = structlog.get_logger(__name__)


class RouteClass(enum.StrEnum):
    read = "read"
    upload = "upload"  # uploads and every other change to files
    admin = "admin"
    resumable = "resumable"  # the chunks of an upload begun at /uploads, and asking its offset


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until a slot frees up

    @property
    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }


class LimiterUnavailable(Exception):
    """The shared counter store cannot be reached."""


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.storage: Storage
        self._pool: ConnectionPool | None = None
        if settings.redis_url:
            # Our own pool, so that shutting down can close its connections.
            self._pool = _redis.pool(settings.redis_url)
            scheme, _, rest = settings.redis_url.partition("://")
            uri = {"unix": "async+redis+unix", "rediss": "async+rediss"}.get(scheme, "async+redis")
            self.storage = RedisStorage(
                f"{uri}://{rest}",
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix="fwb-limits",
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
        else:
            self.storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._breaker = _redis.Breaker()
        self._limits: dict[RouteClass, list[RateLimitItem]] = {
            RouteClass.read: parse_many(settings.rate_limit_reads),
            RouteClass.upload: parse_many(settings.rate_limit_uploads),
            RouteClass.admin: parse_many(settings.rate_limit_admin),
            RouteClass.resumable: parse_many(settings.rate_limit_resumable),
        }

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def hit(self, route_class: RouteClass, client: str) -> Verdict:
        """Count a request against every limit of its class (`10/second;100/minute`)."""
        if self._breaker.open:
            raise LimiterUnavailable("paused after a failure")
        verdicts: list[Verdict] = []
        for item in self._limits[route_class]:
            try:
                allowed = await self._limiter.hit(item, route_class.value, client)
                stats = await self._limiter.get_window_stats(item, route_class.value, client)
            except Exception as exc:  # limits wraps every storage failure; none may pass silently
                self._breaker.failed()
                raise LimiterUnavailable(type(exc).__name__) from exc
            reset_after = max(0, math.ceil(stats.reset_time - time.time()))
            verdicts.append(Verdict(allowed, item.amount, stats.remaining, reset_after))
            if not allowed:
                break  # a refused request is not charged to the wider windows
        # The answer speaks of the tightest limit: the one that refused, else the nearest to.
        return min(verdicts, key=lambda verdict: (verdict.allowed, verdict.remaining))
