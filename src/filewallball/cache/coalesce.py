"""Misses that come together wait for one load.

When a kept value ends under load, every client asking at that moment misses it at once; each
would run the same query. Here the first one runs it and the others wait for its answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Coalesced(Generic[V]):
    def __init__(self) -> None:
        self._loading: dict[Hashable, asyncio.Future[V]] = {}

    async def load(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        """`load()`'s answer, shared with every caller asking for `key` while it runs."""
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._run(key, load))
            loading.add_done_callback(_retrieve)
            self._loading[key] = loading
        # Shielded: a client that leaves does not cancel the load the others wait for.
        return await asyncio.shield(loading)

    async def _run(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        try:
            return await load()
        finally:
            del self._loading[key]


def _retrieve(loading: asyncio.Future[V]) -> None:
    # Its waiters take a failed load's error; when every one has left, it is taken here, so
    # that asyncio does not report it as never retrieved.
    if not loading.cancelled():
        loading.exception()
