"""Rate limits per client and route class, in moving windows: at most N requests in any
span of the limit's length. Limits are written in the `limits` library's notation and read by
it (`10/second;100/minute`).

In memory by default; in Redis when FWB_REDIS_URL is set, so every replica counts against the
same windows. There a request is counted against every limit of its class, and told what is
left, in one Lua script: one round trip a request (the `limits` library took two a limit,
to count and then to tell, which cost nearly half of a popular file's rate on MariaDB +
Redis, bench/README.md). The script sets each window's expiry as it counts, so a crash can
never leave a counter without one (and a client banned forever).
"""

from __future__ import annotations

import enum
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import structlog
from limits import parse_many
from redis.exceptions import RedisError

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


@dataclass(frozen=True, slots=True)
class _Limit:
    amount: int
    seconds: int
    key: str  # what sets this limit's counters apart: `10/1`


def _parse(value: str) -> list[_Limit]:
    """The limits of a class, narrowest window first: a request one of them refuses is not
    charged to the wider ones after it."""
    limits = [
        _Limit(item.amount, item.get_expiry(), f"{item.amount}/{item.get_expiry()}")
        for item in parse_many(value)
    ]
    return sorted(limits, key=lambda limit: limit.seconds)


def _verdict(limit: _Limit, allowed: bool, in_window: int, oldest_age: float) -> Verdict:
    # A slot frees when the oldest request in the window leaves it.
    reset_after = max(0, math.ceil(limit.seconds - oldest_age)) if in_window else limit.seconds
    return Verdict(allowed, limit.amount, limit.amount - in_window, reset_after)


class _Windows(Protocol):
    async def hit(self, counter: str, limits: list[_Limit]) -> list[Verdict]:
        """Count a request against `limits` in turn, up to the first that refuses it."""

    async def close(self) -> None: ...


class _InMemory:
    """Each window is the times of its requests, oldest first, at most the limit's amount."""

    SWEEP_SECONDS = 60.0

    def __init__(self) -> None:
        self._windows: dict[str, deque[float]] = {}
        self._expiries: dict[str, int] = {}
        self._swept = time.monotonic()

    async def hit(self, counter: str, limits: list[_Limit]) -> list[Verdict]:
        now = time.monotonic()
        if now - self._swept > self.SWEEP_SECONDS:
            self._sweep(now)
        verdicts = []
        for limit in limits:
            key = f"{counter}:{limit.key}"
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = deque(maxlen=limit.amount)
                self._expiries[key] = limit.seconds
            while window and window[0] <= now - limit.seconds:
                window.popleft()
            allowed = len(window) < limit.amount
            if allowed:
                window.append(now)
            verdicts.append(_verdict(limit, allowed, len(window), now - window[0] if window else 0))
            if not allowed:
                break
        return verdicts

    def _sweep(self, now: float) -> None:
        """Forget the windows whose every request has left them: clients that went away."""
        self._swept = now
        for key in [
            k for k, w in self._windows.items() if not w or w[-1] <= now - self._expiries[k]
        ]:
            del self._windows[key], self._expiries[key]

    async def close(self) -> None:
        return None


# KEYS: one list per limit, newest first. ARGV: for each limit in turn, its amount and its
# seconds. Redis's clock decides, so replicas whose clocks differ still agree. Answers, for
# each limit counted up to the first that refused: allowed (1 or 0), requests in the window,
# age of the oldest in seconds (as text: Lua numbers become integers on the way back).
_HIT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local answers = {}
for i, key in ipairs(KEYS) do
  local amount, seconds = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  while true do
    local oldest = redis.call('LINDEX', key, -1)
    if not oldest or tonumber(oldest) > now - seconds then break end
    redis.call('RPOP', key)
  end
  local allowed = redis.call('LLEN', key) < amount
  if allowed then
    redis.call('LPUSH', key, string.format('%.6f', now))
    redis.call('EXPIRE', key, seconds)
  end
  local oldest = redis.call('LINDEX', key, -1)
  local age = oldest and (now - tonumber(oldest)) or 0
  table.insert(answers, {allowed and 1 or 0, redis.call('LLEN', key), tostring(age)})
  if not allowed then break end
end
return answers
"""


class _InRedis:
    """The same windows in Redis, shared by every replica: one round trip a request."""

    PREFIX = "fwb-limits"

    def __init__(self, url: str) -> None:
        self._redis = _redis.SharedConnection(url)

    async def hit(self, counter: str, limits: list[_Limit]) -> list[Verdict]:
        keys = [f"{self.PREFIX}:{counter}:{limit.key}" for limit in limits]
        arguments = [number for limit in limits for number in (limit.amount, limit.seconds)]
        answers = await self._redis.script(_HIT, keys, arguments)
        return [
            _verdict(limit, bool(allowed), int(in_window), float(age))
            # the answers stop at the first limit that refused
            for limit, (allowed, in_window, age) in zip(limits, answers, strict=False)
        ]

    async def close(self) -> None:
        await self._redis.aclose()


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self._windows: _Windows = (
            _InRedis(settings.redis_url) if settings.redis_url else _InMemory()
        )
        self._breaker = _redis.Breaker()
        self._limits: dict[RouteClass, list[_Limit]] = {
            RouteClass.read: _parse(settings.rate_limit_reads),
            RouteClass.upload: _parse(settings.rate_limit_uploads),
            RouteClass.admin: _parse(settings.rate_limit_admin),
            RouteClass.resumable: _parse(settings.rate_limit_resumable),
        }

    async def close(self) -> None:
        await self._windows.close()

    async def hit(self, route_class: RouteClass, client: str) -> Verdict:
        """Count a request against every limit of its class (`10/second;100/minute`), in
        turn: a refused request is not charged to the wider windows."""
        if self._breaker.open:
            raise LimiterUnavailable("paused after a failure")
        try:
            verdicts = await self._windows.hit(
                f"{route_class.value}:{client}", self._limits[route_class]
            )
        except (RedisError, OSError) as exc:
            self._breaker.failed()
            raise LimiterUnavailable(type(exc).__name__) from exc
        # The answer speaks of the tightest limit: the one that refused, else the nearest to.
        return min(verdicts, key=lambda verdict: (verdict.allowed, verdict.remaining))
