"""What a crash leaves behind, removed: upload temporaries and blobs that no row describes.

An upload writes its blob, commits it, then commits the row; a process killed in between
leaves a temporary or a blob nobody will ever read. The sweep runs at start-up and as a
periodic job, on any number of replicas at once (it only deletes what nothing references, and
deleting twice is harmless). Anything younger than FWB_STALE_UPLOAD_SECONDS is left alone: it
may belong to an upload still landing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball import metrics
from filewallball.db import transaction, utcnow
from filewallball.files import repository
from filewallball.jobs import queue
from filewallball.storage import BlobNotFound, Storage

log = structlog.get_logger(__name__)

BATCH = 500  # keys checked against the database in one query


@dataclass(frozen=True, slots=True)
class Swept:
    temporaries: int
    orphans: int


def owner_of(key: str) -> str:
    """The file key a stored blob belongs to. A file's own key has no dot; whatever is made
    from it (thumbnails) is stored under `<key>.<suffix>`."""
    return key.split(".", 1)[0]


async def sweep(
    storage: Storage, sessions: async_sessionmaker[AsyncSession], stale_seconds: float
) -> Swept:
    """Remove temporaries and unreferenced blobs older than `stale_seconds`."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    temporaries = await storage.remove_incomplete(cutoff)
    orphans = 0
    batch: list[str] = []
    async for blob in storage.list():
        if blob.modified < cutoff:
            batch.append(blob.key)
        if len(batch) >= BATCH:
            orphans += await _remove_unreferenced(storage, sessions, batch, cutoff)
            batch = []
    if batch:
        orphans += await _remove_unreferenced(storage, sessions, batch, cutoff)
    metrics.SWEPT.labels("temporary").inc(temporaries)
    metrics.SWEPT.labels("orphan").inc(orphans)
    if temporaries or orphans:
        log.warning("swept", temporaries=temporaries, orphans=orphans)
    else:
        log.info("swept", temporaries=0, orphans=0)
    return Swept(temporaries, orphans)


async def _remove_unreferenced(
    storage: Storage,
    sessions: async_sessionmaker[AsyncSession],
    keys: list[str],
    cutoff: datetime,
) -> int:
    owners = {owner_of(key) for key in keys}
    async with transaction(sessions) as session:
        referenced = await repository.referenced_keys(session, sorted(owners))
    removed = 0
    for key in keys:
        if owner_of(key) in referenced:
            continue
        try:
            # Looked at again just before: a key written again since the listing is young.
            if (await storage.stat(key)).modified >= cutoff:
                continue
        except BlobNotFound:
            continue  # purged meanwhile, or another replica's sweep was first
        await storage.delete(key)
        log.info("orphan_removed", key=key)
        removed += 1
    return removed


async def schedule(sessions: async_sessionmaker[AsyncSession], interval: float) -> None:
    """A sweep now (this start may follow a crash), and the next periodic one: one per
    interval for the whole service, however many replicas schedule it."""
    slot = int(utcnow().timestamp() // interval) + 1
    async with transaction(sessions) as session:
        queue.enqueue(session, "sweep")
        await _schedule_slot(session, slot, interval)


async def sweep_job(
    payload: Mapping[str, Any],
    *,
    storage: Storage,
    sessions: async_sessionmaker[AsyncSession],
    stale_seconds: float,
    interval: float,
) -> None:
    """The durable job: sweep, then make sure the next interval has its sweep."""
    await sweep(storage, sessions, stale_seconds)
    slot = int(utcnow().timestamp() // interval) + 1
    async with transaction(sessions) as session:
        await _schedule_slot(session, slot, interval)


async def _schedule_slot(session: AsyncSession, slot: int, interval: float) -> None:
    starts = datetime.fromtimestamp(slot * interval, UTC)
    await queue.schedule(session, "sweep", f"sweep:{interval:g}:{slot}", starts)
