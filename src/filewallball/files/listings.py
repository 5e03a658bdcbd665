"""Pages of the file list, kept by each process for a second.

A page of the list is the dearest read there is (three statements, twenty rows) and among the
most requested: every visitor of the browse page asks for the same first page. Each process
keeps the answers it built, as JSON, for at most a second, the age the counts in them may have
anyway (see files/counts.py).

A committed write that can change what a list shows (an upload, a change, a delete, tags, a
restore, a job's facts, a link's last download, an extension moved to another category) moves
the lists' generation in the shared cache, and a page is served only under the generation it
was built in: every replica drops its pages at once. Should the generation not move (the shared
cache is down), the pages still end within the second. Without a cache shared by the workers
(several workers and no Redis) nothing is kept.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime

import structlog
from cachetools import TLRUCache

from filewallball import metrics
from filewallball.cache import Cache, CacheUnavailable
from filewallball.cache.coalesce import Coalesced
from filewallball.db import utcnow

log = structlog.get_logger(__name__)

PAGE_SECONDS = 1.0
GENERATION_KEY = "files:lists:generation"
GENERATION_SECONDS = 86_400  # a token is random: one that ends early only costs a page

# A page's JSON, and when the first of the files it counts expires (None: none does).
Built = tuple[bytes, datetime | None]


def _until(_key: object, entry: tuple[float, bytes], _now: float) -> float:
    return entry[0]


class Listings:
    """This process's pages of the list, under the shared generation."""

    def __init__(self, cache: Cache, *, max_pages: int = 256) -> None:
        self._cache = cache
        # A cache private to this process cannot tell it what the other workers wrote.
        self.enabled = cache.name != "none"
        # Each page with the moment it ends (monotonic seconds).
        self._pages: TLRUCache[tuple[bytes, Hashable], tuple[float, bytes]] = TLRUCache(
            maxsize=max_pages, ttu=_until, timer=time.monotonic
        )
        self._building: Coalesced[bytes] = Coalesced()

    async def page(self, key: Hashable, build: Callable[[], Awaitable[Built]]) -> bytes:
        """The page `key` as kept, or as `build` makes it now. Requests that miss together
        wait for one build: when a page ends under load, one query replaces it, not one per
        waiting client."""
        # Read before the rows: a page built from rows older than a write is never kept under
        # the generation that write moved to, and a page's second counts from here.
        generation, read_at = await self._generation(), time.monotonic()
        if generation is None:
            return (await build())[0]
        slot = (generation, key)
        if (kept := self._pages.get(slot)) is not None:
            return kept[1]
        return await self._building.load(slot, lambda: self._build(slot, read_at, build))

    async def _build(
        self, slot: tuple[bytes, Hashable], read_at: float, build: Callable[[], Awaitable[Built]]
    ) -> bytes:
        body, first_expiry = await build()
        # A page lives a second, or until the first file it counts expires if sooner: a link
        # that expires leaves every page and total on time.
        seconds = PAGE_SECONDS
        if first_expiry is not None:
            seconds = min(seconds, (first_expiry - utcnow()).total_seconds())
        if seconds > 0:
            self._pages[slot] = (read_at + seconds, body)
        return body

    async def _generation(self) -> bytes | None:
        """The lists' current generation; None when it cannot be known (nothing is kept then).
        A generation that is missing (the first list, or the cache lost it) is begun anew, and
        this request keeps nothing: pages kept before can never match a new random token."""
        if not self.enabled:
            return None
        try:
            generation = await self._cache.get(GENERATION_KEY)
            if generation is None:
                await self._cache.add(GENERATION_KEY, uuid.uuid4().hex.encode())
            return generation
        except CacheUnavailable:
            metrics.CACHE_ERRORS.inc()
            return None


async def lists_changed(cache: Cache) -> None:
    """After a committed write that may change any list: every process drops its pages."""
    try:
        await cache.set(GENERATION_KEY, uuid.uuid4().hex.encode(), ttl=GENERATION_SECONDS)
    except CacheUnavailable as exc:
        metrics.CACHE_ERRORS.inc()
        log.warning("list_generation_not_moved", error=str(exc))
