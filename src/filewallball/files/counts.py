"""The view and download counts a file's details show, without a database query per request.

A popular file's details are asked for many times a second; its counts change only when an
activity writer commits. Each process keeps the counts it last read for `max_age` seconds. When
its own writer commits events of a file, it adds them to the counts it keeps (without making
them live longer), so a process always shows at least what it has written itself, and a
popular file does not go back to the database after every commit. What other processes and
replicas wrote shows once the entry ages out: shown counts lag the truth by at most `max_age`
plus the writers' interval. Requests that miss together wait for one query.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from cachetools import TLRUCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.cache.coalesce import Coalesced
from filewallball.files import repository

MAX_FILES = 10_000  # entries kept; the least recently used go first

Counts = tuple[int, int]  # views, downloads


def _until(_file_pk: int, entry: tuple[float, Counts], _now: float) -> float:
    return entry[0]  # when it was read, plus max_age: additions do not extend it


class ShownCounts:
    def __init__(self, max_age: float) -> None:
        self._max_age = max_age
        self._entries: TLRUCache[int, tuple[float, Counts]] = TLRUCache(
            MAX_FILES, ttu=_until, timer=time.monotonic
        )
        self._reading: Coalesced[Counts] = Coalesced()
        # Bumped as the writer begins and as it ends: a read that overlapped a write may or may
        # not hold that write's events, so it is not kept (the events are added to what is).
        self._generation = 0
        self._writing = False

    async def of(self, sessions: async_sessionmaker[AsyncSession], file_pk: int) -> Counts:
        """(views, downloads) of a file, at most `max_age` old."""
        entry = self._entries.get(file_pk)
        if entry is not None:
            return entry[1]
        # Joined only by those who ask before the writer begins or ends a batch: a read begun
        # before a commit must not answer those who ask after it (they could see a count go
        # back). A read that overlaps a batch may or may not hold its events, so it answers
        # those who asked meanwhile but is not kept (see _read).
        key = (file_pk, self._generation)
        return await self._reading.load(key, lambda: self._read(sessions, file_pk))

    async def _read(self, sessions: async_sessionmaker[AsyncSession], file_pk: int) -> Counts:
        generation, read_at = self._generation, time.monotonic()
        async with sessions() as session:
            counts = await repository.counters(session, file_pk)
        if generation == self._generation and not self._writing:
            self._entries[file_pk] = (read_at + self._max_age, counts)
        return counts

    def writing(self) -> None:
        """This process's writer begins a batch."""
        self._generation += 1
        self._writing = True

    def written(self, added: Mapping[int, Counts]) -> None:
        """The batch is over, having committed these views and downloads per file (nothing
        when it failed)."""
        self._generation += 1
        self._writing = False
        for file_pk, (views, downloads) in added.items():
            entry = self._entries.get(file_pk)
            if entry is not None:
                until, (shown_views, shown_downloads) = entry
                self._entries[file_pk] = (until, (shown_views + views, shown_downloads + downloads))
