"""Caps on uploads in flight, per worker process: a few at a time per client, and a ceiling on
the bytes all uploads may be bringing in at once, so that one client cannot starve the others.
Counted in memory, so a replica running N workers admits N times as much."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from filewallball.errors import ServiceUnavailable, TooManyRequests

RETRY_AFTER = "5"


class UploadGate:
    def __init__(self, per_client: int, max_bytes: int) -> None:
        self.per_client = per_client
        self.max_bytes = max_bytes
        self._active: Counter[str] = Counter()
        self._bytes = 0

    @asynccontextmanager
    async def admit(self, client: str, reserved: int) -> AsyncIterator[None]:
        """Hold a place for an upload of up to `reserved` bytes while it runs."""
        if self._active[client] >= self.per_client:
            raise TooManyRequests(
                f"You already have {self.per_client} uploads in progress; wait for one to finish.",
                headers={"Retry-After": RETRY_AFTER},
            )
        if self._bytes + reserved > self.max_bytes:
            raise ServiceUnavailable(
                "The server is receiving as much as it can right now. Try again shortly.",
                headers={"Retry-After": RETRY_AFTER},
            )
        self._active[client] += 1
        self._bytes += reserved
        try:
            yield
        finally:
            self._active[client] -= 1
            if not self._active[client]:
                del self._active[client]
            self._bytes -= reserved
