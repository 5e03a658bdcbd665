"""The integrity check: does every row have its blob, and every blob its row?

It finds rows whose blob is missing or has another size (with `deep`, other bytes than the
SHA-256 says), blobs no row names (files, and thumbnails whose image is gone), and writes
abandoned long enough to be stale; orphans and writes younger than the stale age may belong to
an upload still landing, and are left out. `repair` removes the orphans and stale writes and
marks the rows whose bytes are gone as lost, so that they answer 410 instead of 503.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.db import transaction, utcnow
from filewallball.files import blob_keys, repository, sweep
from filewallball.files.digests import sha256_of
from filewallball.files.models import File
from filewallball.progress import Tally
from filewallball.storage import BlobNotFound, Storage

log = structlog.get_logger(__name__)


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
        rows = (
            await session.execute(
                select(File.file_uuid, File.storage_path, File.file_size, File.sha256, File.lost_at)
            )
        ).all()
    known = {row.storage_path for row in rows}
    with Tally("fsck", sum(row.file_size for row in rows) if deep else 0, len(rows)) as tally:
        for row in rows:
            findings.checked += 1
            try:
                info = await storage.stat(row.storage_path)
            except BlobNotFound:
                (findings.missing if row.lost_at is None else findings.lost).append(row.file_uuid)
                tally.advance(0)
                continue
            if info.size != row.file_size:
                findings.wrong_size.append(row.file_uuid)
            elif deep and await sha256_of(storage, row.storage_path) != row.sha256:
                findings.wrong_content.append(row.file_uuid)
            tally.advance(row.file_size if deep else 0)
    async for blob in storage.list():
        owner = blob_keys.owner_of(blob.key)
        # A young blob without a row may be an upload whose row is about to commit.
        if not blob_keys.is_ours(blob.key) or owner in known or blob.modified >= cutoff:
            continue
        (findings.orphans if owner == blob.key else findings.orphan_thumbnails).append(blob.key)
    findings.stale_writes = await storage.incomplete(cutoff)
    if repair:
        findings.repaired = await _repair(sessions, storage, findings, cutoff)
    return findings


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
