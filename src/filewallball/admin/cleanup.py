"""The retention policy, applied: files deleted long enough ago, and expired links, are purged
(row, logs, thumbnails, blob), and view and download logs past their retention are pruned; the
daily roll-ups the statistics read stay.

Run by `filewallball cleanup` (a CronJob) and by the periodic sweep job. Any number of
replicas may run it at once: each purge deletes one row by its id, and only the run whose
delete removed it audits it and removes the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import delete, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.access import audit
from filewallball.admin import repository
from filewallball.admin.service import remove_bytes
from filewallball.cache import Cache
from filewallball.db import after_commit, transaction, utcnow
from filewallball.files.models import File, FileDownload, FileView
from filewallball.storage import Storage

log = structlog.get_logger(__name__)

ACTOR = "cleanup"  # who the audit log says purged a file
BATCH = 200


@dataclass(frozen=True, slots=True)
class Cleaned:
    purged: int
    views_pruned: int
    downloads_pruned: int


async def cleanup(
    sessions: async_sessionmaker[AsyncSession],
    cache: Cache,
    storage: Storage,
    *,
    purge_after_days: float,
    log_retention_days: float,
) -> Cleaned:
    now = utcnow()
    deleted_before = now - timedelta(days=purge_after_days)
    due = or_(
        (File.is_deleted == true()) & (File.deleted_at < deleted_before),
        File.expires_at <= now,
        File.downloads_granted >= File.max_downloads,
    )
    purged = 0
    while True:
        async with transaction(sessions) as session:
            rows = (
                await session.execute(
                    select(File.id, File.file_uuid, File.is_deleted).where(due).limit(BATCH)
                )
            ).all()
        for row in rows:
            purged += await _purge(
                sessions,
                cache,
                storage,
                row.id,
                row.file_uuid,
                "deleted" if row.is_deleted else "expired",
            )
        if len(rows) < BATCH:
            break
    logs_before = now - timedelta(days=log_retention_days)
    async with transaction(sessions) as session:
        views = await session.execute(delete(FileView).where(FileView.created_at < logs_before))
        downloads = await session.execute(
            delete(FileDownload).where(FileDownload.created_at < logs_before)
        )
    cleaned = Cleaned(purged, _count(views), _count(downloads))
    log.info(
        "cleaned",
        purged=purged,
        views_pruned=cleaned.views_pruned,
        downloads_pruned=cleaned.downloads_pruned,
    )
    return cleaned


async def _purge(
    sessions: async_sessionmaker[AsyncSession],
    cache: Cache,
    storage: Storage,
    file_pk: int,
    file_id: str,
    why: str,
) -> int:
    async with transaction(sessions) as session:
        purged = await repository.purge(session, file_pk)
        if not purged.removed:
            return 0  # another run was first
        session.add(audit.entry("purge", actor=ACTOR, target=file_id, detail={"reason": why}))
        after_commit(session, lambda: remove_bytes(cache, storage, file_id, purged.bytes_to_remove))
    return 1


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
