"""The integrity check: does every row have its blob, and every blob its row?

It finds rows whose blob is missing or has another size (with `deep`, other bytes than the
SHA-256 says), blobs no row names (files, and thumbnails whose image is gone), and writes
abandoned long enough to be stale; orphans and writes younger than the stale age may belong to
an upload still landing, and are left out. `repair` removes the orphans and stale writes and
marks the rows whose bytes are gone as lost, so that they answer 410 instead of 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.db import transaction, utcnow
from filewallball.files import blob_keys, repository, sweep
from filewallball.files.digests import hexdigest_of
from filewallball.files.models import File
from filewallball.progress import Tally
from filewallball.storage import BlobNotFound, Storage

log = structlog.get_logger(__name__)

PAGE = 500  # rows, or keys, looked at together


@dataclass(slots=True)
class Findings:
    missing: list[str] = field(default_factory=list)  # file ids whose blob is gone
    lost: list[str] = field(default_factory=list)  # those already marked lost: known, not new
    wrong_size: list[str] = field(default_factory=list)
    wrong_content: list[str] = field(default_factory=list)  # only with `deep`
    orphans: list[str] = field(default_factory=list)  # blob keys no row names
    orphan_thumbnails: list[str] = field(default_factory=list)
    stale_writes: int = 0
    checked: int = 0  # rows looked at
    repaired: int = 0  # blobs and writes removed, rows marked lost

    @property
    def damaged(self) -> bool:
        return bool(
            self.missing
            or self.wrong_size
            or self.wrong_content
            or self.orphans
            or self.orphan_thumbnails
            or self.stale_writes
        )

    def summary(self) -> list[str]:
        return [
            f"{self.checked} files checked",
            f"{len(self.missing)} without their blob",
            f"{len(self.lost)} marked lost before",
            f"{len(self.wrong_size)} whose blob has another size",
            f"{len(self.wrong_content)} whose blob has other bytes",
            f"{len(self.orphans)} blobs without a row",
            f"{len(self.orphan_thumbnails)} thumbnails without their image",
            f"{self.stale_writes} stale unfinished writes",
            f"{self.repaired} repaired",
        ]


async def check(
    sessions: async_sessionmaker[AsyncSession],
    storage: Storage,
    *,
    deep: bool,
    repair: bool,
    stale_seconds: float,
) -> Findings:
    findings = Findings()
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    async with transaction(sessions) as session:
        count, size = (
            await session.execute(select(func.count(), func.coalesce(func.sum(File.file_size), 0)))
        ).one()
    with Tally("fsck", size if deep else 0, count) as tally:
        async for row in _rows(sessions):
            findings.checked += 1
            try:
                info = await storage.stat(row.storage_path)
            except BlobNotFound:
                (findings.missing if row.lost_at is None else findings.lost).append(row.file_uuid)
                tally.advance(0)
                continue
            if info.size != row.file_size:
                findings.wrong_size.append(row.file_uuid)
            elif deep and await hexdigest_of(storage, row.storage_path) != row.sha256:
                findings.wrong_content.append(row.file_uuid)
            tally.advance(row.file_size if deep else 0)
    # Blobs without a row, asked of the database a page of keys at a time: no set of every
    # key in memory. A young blob without a row may be an upload whose row is about to commit.
    page: list[str] = []
    async for blob in storage.list():
        if blob_keys.is_ours(blob.key) and blob.modified < cutoff:
            page.append(blob.key)
        if len(page) >= PAGE:
            await _note_orphans(sessions, page, findings)
            page = []
    await _note_orphans(sessions, page, findings)
    findings.stale_writes = await storage.incomplete(cutoff)
    if repair:
        findings.repaired = await _repair(sessions, storage, findings, cutoff)
    return findings


async def _rows(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Row[int, str, str, int, str, datetime | None]]:
    """Every file's row, deleted or not (its bytes stay until purged), a page at a time."""
    after = 0
    while True:
        async with transaction(sessions) as session:
            rows = (
                await session.execute(
                    select(
                        File.id,
                        File.file_uuid,
                        File.storage_path,
                        File.file_size,
                        File.sha256,
                        File.lost_at,
                    )
                    .where(File.id > after)
                    .order_by(File.id)
                    .limit(PAGE)
                )
            ).all()
        for row in rows:
            yield row
        if len(rows) < PAGE:
            return
        after = rows[-1].id


async def _note_orphans(
    sessions: async_sessionmaker[AsyncSession], keys: list[str], findings: Findings
) -> None:
    if not keys:
        return
    async with transaction(sessions) as session:
        named = await repository.referenced_keys(
            session, sorted({blob_keys.owner_of(key) for key in keys})
        )
    for key in keys:
        owner = blob_keys.owner_of(key)
        if owner not in named:
            (findings.orphans if owner == key else findings.orphan_thumbnails).append(key)


async def _repair(
    sessions: async_sessionmaker[AsyncSession],
    storage: Storage,
    findings: Findings,
    cutoff: datetime,
) -> int:
    """Remove orphans and stale writes; mark files whose bytes are gone as lost."""
    orphans = [*findings.orphans, *findings.orphan_thumbnails]
    # Through the sweep's own check: a row that committed since the rows were read (an upload
    # that took long, which S3 dates from its start) keeps its blob.
    deleted = 0
    for start in range(0, len(orphans), 500):
        deleted += await sweep.remove_unreferenced(
            storage, sessions, orphans[start : start + 500], cutoff
        )
    removed = await storage.remove_incomplete(cutoff)
    if findings.missing:
        async with transaction(sessions) as session:
            await repository.mark_lost(session, findings.missing, utcnow())
        log.warning("fsck_files_lost", files=findings.missing)
    return deleted + removed + len(findings.missing)
