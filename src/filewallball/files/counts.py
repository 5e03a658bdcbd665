"""The view and download counts a file's details show, without a database query per request.

A popular file's details are asked for many times a second; its counts change only when an
activity writer commits. Each process keeps the counts it last read for `max_age` seconds, and
forgets a file's as soon as its own writer commits events of that file, so a process always
shows at least what it has written itself. What other processes and replicas wrote shows once
the entry ages out: shown counts lag the truth by at most `max_age` plus the writers' interval.
"""

from __future__ import annotations

from collections.abc import Iterable

from cachetools import TTLCache

from filewallball.db import Reader, reading
from filewallball.files import repository

MAX_FILES = 10_000  # entries kept; the least recently used go first


class ShownCounts:
    def __init__(self, max_age: float) -> None:
        self._entries: TTLCache[int, tuple[int, int]] = TTLCache(MAX_FILES, ttl=max_age)
        # Bumped by every commit of the writer: a read that started before one may hold counts
        # from before it, and is not kept.
        self._generation = 0

    async def of(self, reader: Reader, file_pk: int) -> tuple[int, int]:
        """(views, downloads) of a file, at most `max_age` old."""
        counts = self._entries.get(file_pk)
        if counts is not None:
            return counts
        generation = self._generation
        async with reading(reader) as session:
            counts = await repository.counters(session, file_pk)
        if generation == self._generation:
            self._entries[file_pk] = counts
        return counts

    def written(self, file_pks: Iterable[int]) -> None:
        """This process's writer committed events of these files."""
        self._generation += 1
        for file_pk in file_pks:
            self._entries.pop(file_pk, None)
