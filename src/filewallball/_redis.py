"""Redis connections that give up fast. A Redis that hangs rather than refusing (a frozen
process, a black-holed network) must cost a request well under a second, once, and then
nothing until it may answer again: every client here has connect and socket timeouts, never
retries a timeout, and sits behind a breaker."""

from __future__ import annotations

import time
from typing import Any

from redis import exceptions
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

CONNECT_TIMEOUT = 0.5
COMMAND_TIMEOUT = 0.5
# How long a failed Redis is left alone before the next request tries it again.
PAUSE_SECONDS = 2.0


def options(socket_timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
    """Connection options for every client. redis-py's default of three retries with backoff
    would turn one timeout into four: a timeout is never retried. A connection error is, once,
    on a new connection: after a Redis restart each pooled connection is dead, and only the
    retry finds out whether Redis is."""
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": socket_timeout,
        "retry": Retry(NoBackoff(), 1, supported_errors=(exceptions.ConnectionError,)),
    }


def connect(url: str, socket_timeout: float = COMMAND_TIMEOUT, **extra: Any) -> Redis:
    return Redis.from_url(url, **options(socket_timeout), **extra)


def pool(url: str) -> ConnectionPool:
    return ConnectionPool.from_url(url, **options())


class Breaker:
    """After a failure, calls are refused at once for `pause` seconds instead of each waiting
    out a timeout; the first call after the pause tries Redis again."""

    def __init__(self, pause: float = PAUSE_SECONDS) -> None:
        self.pause = pause
        self._open_until = 0.0

    @property
    def open(self) -> bool:
        return time.monotonic() < self._open_until

    def failed(self) -> None:
        self._open_until = time.monotonic() + self.pause

    def succeeded(self) -> None:
        self._open_until = 0.0
