"""The queries of the files feature. Services flush; the caller owns the transaction."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    Select,
    Table,
    bindparam,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball import rollup
from filewallball.db import utcnow
from filewallball.files.models import (
    Blob,
    File,
    FileCategory,
    FileDownload,
    FileExtension,
    FileTag,
    FileTagRelation,
    FileUpload,
    FileView,
)


@dataclass(frozen=True, slots=True)
class Viewer:
    """A non-admin reader: sees public files and the ones its key owns."""

    key_pk: int | None


def live_files_seen_by(viewer: Viewer | None) -> list[ColumnElement[bool]]:
    """Conditions for the live files a viewer may see: public ones and those its key owns;
    every live file when there is no viewer to limit (an admin). Live: neither deleted nor
    expired."""
    live: list[ColumnElement[bool]] = [
        File.is_deleted == false(),
        # An expired link, or one whose downloads are used up, leaves every list at once.
        or_(File.expires_at.is_(None), File.expires_at > utcnow()),
        or_(File.max_downloads.is_(None), File.downloads_granted < File.max_downloads),
    ]
    if viewer is None:
        return live
    if viewer.key_pk is None:
        return [*live, File.is_public == true()]
    return [*live, or_(File.is_public == true(), File.owner_key_id == viewer.key_pk)]


@dataclass(frozen=True, slots=True)
class ListFilter:
    category: str | None = None
    extension: str | None = None
    tags: tuple[str, ...] = ()  # every one of them
    query: str | None = None


async def extension_rules(session: AsyncSession) -> Sequence[FileExtension]:
    """Every extension's rule, with its category."""
    result = await session.scalars(select(FileExtension))
    return result.unique().all()


async def category_named(session: AsyncSession, name: str) -> FileCategory:
    result = await session.execute(select(FileCategory).where(FileCategory.name == name))
    return result.scalar_one()


async def tags_named(session: AsyncSession, names: Sequence[str]) -> list[FileTag]:
    """The tags with these names, created when missing."""
    if not names:
        return []
    # Insert-or-ignore first, read second: two uploads creating the same tag at once both
    # succeed, and the read (the transaction's first) sees the row whichever of them made it.
    rows = [{"tag_name": name} for name in names]
    statement: Executable
    if session.get_bind().dialect.name == "sqlite":
        statement = sqlite_insert(FileTag).values(rows).on_conflict_do_nothing()
    else:
        statement = mysql_insert(FileTag).values(rows).prefix_with("IGNORE")
    await session.execute(statement)
    found = {
        tag.tag_name: tag
        for tag in await session.scalars(select(FileTag).where(FileTag.tag_name.in_(names)))
    }
    return [found[name] for name in names]


# `== false()` rather than `IS false`: MariaDB uses an index for the first only.


async def live_file(session: AsyncSession, file_uuid: str) -> File | None:
    result = await session.execute(
        select(File).where(File.file_uuid == file_uuid, File.is_deleted == false())
    )
    return result.unique().scalar_one_or_none()


@functools.cache
def _counters_query() -> Select[int, int]:
    """Built once: building it cost more than running it, read once a second per popular file
    by each process."""
    return select(File.view_count, File.download_count).where(File.id == bindparam("file_id"))


async def counters(session: AsyncSession, file_id: int) -> tuple[int, int]:
    result = await session.execute(_counters_query(), {"file_id": file_id})
    views, downloads = result.one()
    return views, downloads


async def lock_files(session: AsyncSession, file_ids: Iterable[int]) -> set[int]:
    """Lock the rows of those files that still exist (a purge may have removed one) and
    return their ids. Taken in id order, so that writers locking several rows never wait on
    each other in opposite orders (no deadlock), and before the log inserts, whose foreign
    key checks would otherwise take shared locks first."""
    rows = await session.scalars(
        select(File.id).where(File.id.in_(sorted(file_ids))).order_by(File.id).with_for_update()
    )
    return set(rows)


async def add_to_counters(session: AsyncSession, counts: Mapping[int, tuple[int, int]]) -> None:
    """Add (views, downloads) to each file's counters, in id order, in one statement run
    once per file."""
    # The table, not the entity: an ORM update with a list of parameters would match rows by
    # primary key column names, and these values are increments.
    table = cast(Table, File.__table__)
    files = table.c
    statement = (
        update(table)
        .where(files.id == bindparam("pk"))
        .values(
            view_count=files.view_count + bindparam("views"),
            download_count=files.download_count + bindparam("downloads"),
        )
    )
    rows = [
        {"pk": pk, "views": views, "downloads": downloads}
        for pk, (views, downloads) in sorted(counts.items())
        if views or downloads
    ]
    if rows:
        await session.execute(statement, rows)


async def add_logs(
    session: AsyncSession, views: list[dict[str, Any]], downloads: list[dict[str, Any]]
) -> None:
    """Insert log rows, many per statement: column values of FileView and FileDownload.

    Into the tables, not through the ORM's bulk insert, which costs more than the database
    does for these rows: with one log row per view, that was a twentieth of a popular file's
    request (bench/README.md)."""
    if views:
        await session.execute(insert(cast(Table, FileView.__table__)), views)
    if downloads:
        await session.execute(insert(cast(Table, FileDownload.__table__)), downloads)


async def record_upload(session: AsyncSession, upload: FileUpload, *, who: str) -> None:
    session.add(upload)
    await session.flush()
    completed = upload.upload_status == "completed"
    await rollup.count(
        session,
        who,
        at=upload.upload_started_at,
        uploads_completed=int(completed),
        error=None if completed else upload.error_reason or "unknown",
    )


async def page_of_files(
    session: AsyncSession,
    filters: ListFilter,
    seen_by: Viewer | None,
    *,
    page: int,
    size: int,
) -> tuple[Sequence[File], int, datetime | None]:
    """Live files matching `filters` that `seen_by` may see (all, when None), newest first;
    how many match in all, and when the first of those expires (None: none does)."""
    where = live_files_seen_by(seen_by)
    query = select(File.id, File.expires_at)
    if filters.category:
        query = query.join(FileCategory, FileCategory.id == File.file_category_id)
        where.append(FileCategory.name == filters.category)
    if filters.extension:
        where.append(File.file_extension == filters.extension)
    for tag in filters.tags:
        tagged = (
            select(FileTagRelation.file_id)
            .join(FileTag, FileTag.id == FileTagRelation.tag_id)
            .where(FileTag.tag_name == tag)
        )
        where.append(File.id.in_(tagged))
    if filters.query:
        escaped = filters.query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(File.original_filename.like(f"%{escaped}%", escape="\\"))
    matching = query.where(*where).subquery()
    counted = await session.execute(select(func.count(), func.min(matching.c.expires_at)))
    total, first_expiry = counted.one()
    page_query = (
        select(File)
        .where(*where)
        .order_by(File.created_at.desc(), File.id.desc())
        .limit(size)
        .offset((page - 1) * size)
    )
    if filters.category:
        page_query = page_query.join(FileCategory, FileCategory.id == File.file_category_id)
    rows = await session.scalars(page_query)
    return rows.unique().all(), total or 0, first_expiry


async def soft_delete(session: AsyncSession, file_id: int) -> None:
    now = utcnow()
    await session.execute(
        update(File)
        .where(File.id == file_id)
        .values(is_deleted=True, deleted_at=now, updated_at=now)
    )


async def touch(session: AsyncSession, file_id: int) -> None:
    await session.execute(update(File).where(File.id == file_id).values(updated_at=utcnow()))


async def change(session: AsyncSession, file_id: int, **values: Any) -> datetime | None:
    """Change a live file's metadata; when it changed, or None if it is deleted: the cache
    that found it may be a moment behind the database, which decides."""
    now = utcnow()
    changed = await session.execute(
        update(File)
        .where(File.id == file_id, File.is_deleted == false())
        .values(**values, updated_at=now)
    )
    assert isinstance(changed, CursorResult)
    return now if changed.rowcount else None


async def set_md5(session: AsyncSession, file_id: int, md5: str) -> None:
    await session.execute(update(File).where(File.id == file_id).values(file_hash=md5))


async def referenced_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """Those of `keys` that a row points at, deleted or not: a soft-deleted file keeps its
    bytes until it is purged."""
    rows = await session.scalars(select(File.storage_path).where(File.storage_path.in_(keys)))
    return set(rows)


async def lost_at(session: AsyncSession, file_uuid: str) -> datetime | None:
    """When an integrity check found the file's bytes gone, if it did."""
    return await session.scalar(select(File.lost_at).where(File.file_uuid == file_uuid))


async def mark_lost(session: AsyncSession, file_uuids: Sequence[str], when: datetime) -> None:
    for start in range(0, len(file_uuids), 500):  # a bounded IN list, however many were lost
        await session.execute(
            update(File)
            .where(File.file_uuid.in_(file_uuids[start : start + 500]), File.lost_at.is_(None))
            .values(lost_at=when)
        )


@functools.cache
def _sharing(dialect: str) -> Any:
    """Insert a blob's row, or count one more file on the row already there (built once)."""
    table = cast(Table, Blob.__table__)
    if dialect == "sqlite":
        return sqlite_insert(table).on_conflict_do_update(
            index_elements=[table.c.sha256], set_={"refs": table.c.refs + 1}
        )
    return mysql_insert(table).on_duplicate_key_update(refs=table.c.refs + 1)


async def share_blob(session: AsyncSession, sha256: str, key: str, size: int) -> str:
    """The key a new file with this content points at: the blob stored for it already (one
    more row uses it), or `key` (the one just landed), in one atomic statement on both
    databases, so that concurrent uploads of one content agree on one blob."""
    row = {"sha256": sha256, "storage_key": key, "size": size, "refs": 1, "created_at": utcnow()}
    await session.execute(_sharing(session.get_bind().dialect.name), row)
    shared = await session.scalar(select(Blob.storage_key).where(Blob.sha256 == sha256))
    assert shared is not None
    return shared


async def lock_blob(session: AsyncSession, sha256: str) -> None:
    """Hold the blob's row until the transaction ends (SQLite's one writer already does)."""
    await session.execute(select(Blob.sha256).where(Blob.sha256 == sha256).with_for_update())


async def release_blob(session: AsyncSession, sha256: str) -> str | None:
    """One row fewer uses the blob; its key when that was the last, so its bytes may go."""
    await session.execute(update(Blob).where(Blob.sha256 == sha256).values(refs=Blob.refs - 1))
    blob = (
        await session.execute(select(Blob.storage_key, Blob.refs).where(Blob.sha256 == sha256))
    ).one_or_none()
    if blob is None or blob.refs > 0:
        return None
    await session.execute(delete(Blob).where(Blob.sha256 == sha256))
    return str(blob.storage_key)
