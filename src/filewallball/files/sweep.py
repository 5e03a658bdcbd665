"""What a crash leaves behind, removed: upload temporaries and blobs that no row describes.

An upload writes its blob, commits it, then commits the row; a process killed in between
leaves a temporary or a blob nobody will ever read. The sweep runs at start-up and as a
periodic job, on any number of replicas at once (it only deletes what nothing references, and
deleting twice is harmless). Anything younger than FWB_STALE_UPLOAD_SECONDS is left alone: it
may belong to an upload still landing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball import metrics
from filewallball.db import transaction, utcnow
from filewallball.files import blob_keys, repository
from filewallball.jobs import queue
from filewallball.storage import BlobNotFound, Storage

log = structlog.get_logger(__name__)

BATCH = 500  # keys checked against the database in one query
START_KEY = "sweep:start"  # held by the start's sweep until it runs


@dataclass(frozen=True, slots=True)
class Swept:
    temporaries: int
    orphans: int


async def sweep(
    storage: Storage, sessions: async_sessionmaker[AsyncSession], stale_seconds: float
) -> Swept:
    """Remove temporaries and unreferenced blobs older than `stale_seconds`."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    temporaries = await storage.remove_incomplete(cutoff)
    orphans = 0
    batch: list[str] = []
    async for blob in storage.list():
        # Only what uploads wrote: a shared folder may hold the database or an operator's files.
        if blob.modified < cutoff and blob_keys.is_ours(blob.key):
            batch.append(blob.key)
        if len(batch) >= BATCH:
            orphans += await remove_unreferenced(storage, sessions, batch, cutoff)
            batch = []
    if batch:
        orphans += await remove_unreferenced(storage, sessions, batch, cutoff)
    metrics.SWEPT.labels("temporary").inc(temporaries)
    metrics.SWEPT.labels("orphan").inc(orphans)
    if temporaries or orphans:
        log.warning("swept", temporaries=temporaries, orphans=orphans)
    else:
        log.info("swept", temporaries=0, orphans=0)
    return Swept(temporaries, orphans)


async def remove_unreferenced(
    storage: Storage,
    sessions: async_sessionmaker[AsyncSession],
    keys: list[str],
    cutoff: datetime,
) -> int:
    """Delete those of `keys` that no row names now and that were not written since
    `cutoff`, both looked at again just before: a row may have committed since the listing."""
    owners = {blob_keys.owner_of(key) for key in keys}
    async with transaction(sessions) as session:
        referenced = await repository.referenced_keys(session, sorted(owners))
    removed = 0
    for key in keys:
        if blob_keys.owner_of(key) in referenced:
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
    """A sweep now (this start may follow a crash), and the next periodic one. Both are keyed:
    replicas and workers starting while a start's sweep waits share it, and each interval has
    one sweep, however many schedule it."""
    now = utcnow()
    slot = int(now.timestamp() // interval) + 1
    async with transaction(sessions) as session:
        await queue.schedule(session, "sweep", START_KEY, now, start=True)
        await _schedule_slot(session, slot, interval)


async def try_to_schedule(sessions: async_sessionmaker[AsyncSession], interval: float) -> bool:
    """`schedule`; False, logged, when the database cannot be reached."""
    try:
        await schedule(sessions, interval)
    except SQLAlchemyError as exc:
        log.warning("sweep_not_scheduled", error=type(exc).__name__)
        return False
    return True


async def schedule_when_possible(
    sessions: async_sessionmaker[AsyncSession], interval: float
) -> None:
    """`schedule`, retried while the database cannot be reached: after 1 s, then twice as long
    each time, up to a minute."""
    retry_in = 1.0
    while not await try_to_schedule(sessions, interval):
        await asyncio.sleep(retry_in)
        retry_in = min(retry_in * 2, 60.0)


async def sweep_job(
    payload: Mapping[str, Any],
    *,
    storage: Storage,
    sessions: async_sessionmaker[AsyncSession],
    stale_seconds: float,
    interval: float,
) -> None:
    """The durable job: make sure the next interval has its sweep, then sweep. Scheduled first,
    so that a sweep that fails (an unreadable folder, the database gone) never ends the chain."""
    slot = int(utcnow().timestamp() // interval) + 1
    async with transaction(sessions) as session:
        if payload.get("start"):
            # Under way: a start from now on (after a crash, say) needs a sweep of its own.
            await queue.release(session, START_KEY)
        await _schedule_slot(session, slot, interval)
    await sweep(storage, sessions, stale_seconds)


async def _schedule_slot(session: AsyncSession, slot: int, interval: float) -> None:
    starts = datetime.fromtimestamp(slot * interval, UTC)
    await queue.schedule(session, "sweep", f"sweep:{interval:g}:{slot}", starts)
