"""Backup, check and restore.

A backup reads every table in one snapshot, then copies the blobs those rows name. An upload
that lands meanwhile is wholly out (its row is not in the snapshot, so its blob is not copied)
or wholly in (its row is, and its blob was committed before it). A restore checks every blob's
SHA-256 as it copies it into the instance's storage, then writes every row in one transaction:
a damaged backup leaves no row behind.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import IO, Any

import structlog
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from filewallball.backup import archive, tables
from filewallball.backup.archive import BlobEntry, Manifest, TableEntry
from filewallball.db import create_engine, utcnow
from filewallball.files.digests import hexdigest_of
from filewallball.images.service import SIZES, thumbnail_key
from filewallball.progress import Tally
from filewallball.settings import Settings
from filewallball.storage import BlobNotFound, Storage, StorageError, create_storage
from filewallball.system_settings import LAST_BACKUP_AT

log = structlog.get_logger(__name__)


class BackupError(Exception):
    """The backup cannot be made, read or restored; the message says why."""


@dataclass(frozen=True, slots=True)
class Outcome:
    manifest: Manifest
    copied: int  # blobs written by this run; the others were there already
    problems: list[str]


async def backup(settings: Settings, place: str) -> Outcome:
    """Write a snapshot of the instance to `place`."""
    source, target = create_storage(settings), archive.open_place(place, settings)
    engine = create_engine(settings)
    await source.open()
    await target.open()
    try:
        snapshot = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        with tempfile.TemporaryFile("w+", encoding="utf-8") as wanted:
            manifest = await _write_tables(engine, target, snapshot, wanted)
            copied = await _copy_blobs(source, target, wanted, manifest)
        await archive.write_all(target, archive.manifest_key(snapshot), manifest.to_json())
        await _remember(engine)
    finally:
        await engine.dispose()
        await source.close()
        await target.close()
    problems = [f"blob missing for {key}" for key in manifest.missing]
    log.info("backup_written", snapshot=snapshot, blobs=manifest.blob_count, copied=copied)
    return Outcome(manifest, copied, problems)


async def _write_tables(
    engine: AsyncEngine, target: Storage, snapshot: str, wanted: IO[str]
) -> Manifest:
    """Every table to the snapshot; the blobs its rows name to `wanted` (a local file, so that
    millions of them never sit in memory), counted in the manifest."""
    async with tables.snapshot(engine) as connection:
        manifest = Manifest(
            snapshot=snapshot,
            created_at=utcnow().isoformat(),
            revision=await tables.schema_revision(connection),
            database=engine.dialect.name,
        )
        for table in tables.all_tables():
            writer = target.writer(archive.table_key(snapshot, table.name))
            digest, count, batch = hashlib.sha256(), 0, []
            compressor = tables.compressor()
            try:
                async for record in tables.rows(connection, table):
                    count += 1
                    batch.append(record)
                    _note_blobs(manifest, wanted, table, record)
                    if len(batch) >= tables.BATCH:
                        data = tables.encoded(batch, compressor)
                        digest.update(data)
                        await writer.write(data)
                        batch = []
                data = tables.encoded(batch, compressor) + compressor.flush()
                digest.update(data)
                await writer.write(data)
                await writer.commit()
            except BaseException:
                await writer.abort()
                raise
            manifest.tables[table.name] = TableEntry(count, digest.hexdigest())
    return manifest


def _note_blobs(manifest: Manifest, wanted: IO[str], table: Table, record: dict[str, Any]) -> None:
    """The blobs a row names: a file's, its thumbnails once made, an unfinished resumable
    upload's chunk. A SHA-256 left empty is learnt by reading the blob."""
    entries: list[tuple[str, str, int]] = []
    if table.name == "files":
        key = record["storage_path"]
        entries.append((key, record["sha256"], record["file_size"]))
        if record["thumbnail_status"] == "ready":
            entries += [(thumbnail_key(key, size), "", 0) for size in SIZES]
    elif table.name == "resumable_chunks":
        entries.append((record["key"], "", record["size"]))
    for entry in entries:
        wanted.write(json.dumps(entry) + "\n")
        manifest.blob_count += 1
        manifest.blob_bytes += entry[2]


async def _copy_blobs(source: Storage, target: Storage, wanted: IO[str], manifest: Manifest) -> int:
    """Copy the `wanted` blobs not already in the archive; list each, with its SHA-256, in the
    snapshot's blob list. How many were copied."""
    copied, digest = 0, hashlib.sha256()
    listed: list[dict[str, Any]] = []
    writer, compressor = target.writer(archive.blobs_key(manifest.snapshot)), tables.compressor()

    async def flush(final: bool = False) -> None:
        data = tables.encoded(listed, compressor) + (compressor.flush() if final else b"")
        listed.clear()
        digest.update(data)
        await writer.write(data)

    wanted.seek(0)
    try:
        with Tally("backup", manifest.blob_bytes, manifest.blob_count) as tally:
            for line in wanted:
                entry = BlobEntry(*json.loads(line))
                try:
                    sha256 = entry.sha256 or await hexdigest_of(source, entry.key)
                    if not await target.exists(archive.blob_key(sha256)):
                        await _copy(source, entry.key, target, archive.blob_key(sha256), sha256)
                        copied += 1
                except (BlobNotFound, BackupError) as exc:
                    # A row whose bytes are gone or damaged: noted, and the backup goes on, so
                    # one bad blob never stops every night's snapshot.
                    log.warning("backup_blob_unusable", key=entry.key, error=str(exc))
                    manifest.missing.append(entry.key)
                    continue
                listed.append(asdict(BlobEntry(entry.key, sha256, entry.size)))
                if len(listed) >= tables.BATCH:
                    await flush()
                tally.advance(entry.size)
        await flush(final=True)
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise
    manifest.blob_count -= len(manifest.missing)
    manifest.blobs_sha256 = digest.hexdigest()
    return copied


async def _entries(storage: Storage, manifest: Manifest) -> AsyncIterator[BlobEntry]:
    """The snapshot's blobs, from its list (whose SHA-256 is checked when it has been read)."""
    listed = _checked(storage, archive.blobs_key(manifest.snapshot), manifest.blobs_sha256)
    async for record in tables.decoded(listed):
        yield BlobEntry(**record)


async def _copy(source: Storage, key: str, target: Storage, target_key: str, sha256: str) -> None:
    """Copy a blob, committed only if its bytes have the SHA-256 they should."""
    writer, digest = target.writer(target_key), hashlib.sha256()
    try:
        async with aclosing(source.read(key)) as data:
            async for chunk in data:
                digest.update(chunk)
                await writer.write(chunk)
        if digest.hexdigest() != sha256:
            raise BackupError(f"{key}: its bytes do not have the SHA-256 {sha256}")
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise


async def _remember(engine: AsyncEngine) -> None:
    """Note when the last backup succeeded, for the metrics and alerts. A write first: on SQLite
    a transaction that read before writing fails at once when another writer came between."""
    table, stamp = tables.table_named("system_settings"), utcnow()
    async with engine.begin() as connection:
        updated = await connection.execute(
            table.update()
            .where(table.c.setting_key == LAST_BACKUP_AT)
            .values(setting_value=stamp.isoformat(), updated_at=stamp)
        )
        if not updated.rowcount:
            await connection.execute(
                table.insert().values(
                    setting_key=LAST_BACKUP_AT,
                    setting_value=stamp.isoformat(),
                    setting_type="datetime",
                    description="When the last backup was written",
                    is_public=False,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )


async def verify(settings: Settings, place: str, snapshot: str | None = None) -> Outcome:
    """Check a snapshot without restoring it: every table file and every blob re-hashed."""
    storage = archive.open_place(place, settings)
    await storage.open()
    try:
        manifest = await _manifest(storage, snapshot)
        problems = []
        for name, table_entry in manifest.tables.items():
            try:
                sha256 = await hexdigest_of(storage, archive.table_key(manifest.snapshot, name))
            except BlobNotFound:
                problems.append(f"table {name}: missing")
                continue
            if sha256 != table_entry.sha256:
                problems.append(f"table {name}: damaged")
        problems += [f"blob {key}: missing when the backup was made" for key in manifest.missing]
        with Tally("verify", manifest.blob_bytes, manifest.blob_count) as tally:
            async for entry in _entries(storage, manifest):
                try:
                    if await hexdigest_of(storage, archive.blob_key(entry.sha256)) != entry.sha256:
                        problems.append(f"blob {entry.key}: damaged")
                except BlobNotFound:
                    problems.append(f"blob {entry.key}: missing")
                tally.advance(entry.size)
    finally:
        await storage.close()
    return Outcome(manifest, 0, problems)


async def restore(
    settings: Settings, place: str, *, snapshot: str | None = None, force: bool = False
) -> Outcome:
    """Restore a snapshot into this instance (its schema migrated to the latest), which must be
    empty unless `force`."""
    source, target = archive.open_place(place, settings), create_storage(settings)
    await source.open()
    await target.open()
    engine = create_engine(settings)
    try:
        manifest = await _manifest(source, snapshot)
        async with engine.connect() as connection:
            revision = await tables.schema_revision(connection)
            empty = await tables.is_empty(connection)
        if revision != manifest.revision:
            raise BackupError(
                f"the backup's schema is {manifest.revision}, this instance's {revision}: "
                "restore with the release that wrote it"
            )
        if not empty and not force:
            raise BackupError("this instance holds data: restore into an empty one, or --force")
        with Tally("restore", manifest.blob_bytes, manifest.blob_count) as tally:
            async for entry in _entries(source, manifest):
                await _copy(source, archive.blob_key(entry.sha256), target, entry.key, entry.sha256)
                tally.advance(entry.size)
        async with engine.begin() as connection:
            await tables.clear(connection)
            for table in tables.all_tables():
                if table.name not in manifest.tables:
                    raise BackupError(f"the backup has no table {table.name}")
                batch = []
                key = archive.table_key(manifest.snapshot, table.name)
                checked = _checked(source, key, manifest.tables[table.name].sha256)
                async for record in tables.decoded(checked):
                    batch.append(record)
                    if len(batch) >= tables.BATCH:
                        await tables.insert_rows(connection, table, batch)
                        batch = []
                await tables.insert_rows(connection, table, batch)
            # Rows whose bytes the backup could not copy: their files answer 410, as after
            # `fsck --repair`; an unfinished upload that lost a chunk cannot finish, and goes.
            await tables.mark_missing(connection, manifest.missing, utcnow())
    except (BlobNotFound, StorageError) as exc:
        raise BackupError(f"the backup cannot be read: {exc}") from None
    finally:
        await engine.dispose()
        await source.close()
        await target.close()
    log.info("restored", snapshot=manifest.snapshot, blobs=manifest.blob_count)
    lost = [
        f"blob {key}: missing from the backup; its file is marked lost" for key in manifest.missing
    ]
    return Outcome(manifest, manifest.blob_count, lost)


async def _checked(storage: Storage, key: str, sha256: str) -> AsyncIterator[bytes]:
    """A table file's bytes; BackupError at its end unless they have their SHA-256 (the rows
    read from it are then rolled back)."""
    digest = hashlib.sha256()
    async with aclosing(storage.read(key)) as data:
        async for chunk in data:
            digest.update(chunk)
            yield chunk
    if digest.hexdigest() != sha256:
        raise BackupError(f"{key} is damaged: its SHA-256 is not the manifest's")


async def _manifest(storage: Storage, snapshot: str | None) -> Manifest:
    try:
        return await archive.manifest(storage, snapshot)
    except (LookupError, ValueError) as exc:
        raise BackupError(str(exc)) from None
