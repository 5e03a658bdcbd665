"""The queries of the files feature. Services flush; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.db import utcnow
from filewallball.files.models import (
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
class ListFilter:
    category: str | None = None
    extension: str | None = None
    tag: str | None = None
    query: str | None = None


async def extension_rule(session: AsyncSession, extension: str) -> FileExtension | None:
    result = await session.execute(
        select(FileExtension).where(FileExtension.extension == extension)
    )
    return result.scalar_one_or_none()


async def category_named(session: AsyncSession, name: str) -> FileCategory:
    result = await session.execute(select(FileCategory).where(FileCategory.name == name))
    return result.scalar_one()


async def tags_named(session: AsyncSession, names: Sequence[str]) -> list[FileTag]:
    """The tags with these names, created when missing."""
    if not names:
        return []
    existing = {
        tag.tag_name: tag
        for tag in (await session.scalars(select(FileTag).where(FileTag.tag_name.in_(names))))
    }
    for name in names:
        if name not in existing:
            existing[name] = FileTag(tag_name=name)
            session.add(existing[name])
    await session.flush()
    return [existing[name] for name in names]


async def live_file(session: AsyncSession, file_uuid: str) -> File | None:
    result = await session.execute(
        select(File).where(File.file_uuid == file_uuid, File.is_deleted.is_(False))
    )
    return result.unique().scalar_one_or_none()


async def counters(session: AsyncSession, file_id: int) -> tuple[int, int]:
    result = await session.execute(
        select(File.view_count, File.download_count).where(File.id == file_id)
    )
    views, downloads = result.one()
    return views, downloads


async def record_view(
    session: AsyncSession,
    file_id: int,
    *,
    view_type: str,
    client_ip: str | None,
    user_agent: str | None,
    session_id: str | None,
) -> None:
    # Counter first: the row lock it takes comes before the FK check of the log insert, so
    # concurrent readers queue instead of deadlocking (shared lock, then exclusive).
    await session.execute(
        update(File).where(File.id == file_id).values(view_count=File.view_count + 1)
    )
    session.add(
        FileView(
            file_id=file_id,
            viewer_ip=client_ip,
            user_agent=user_agent,
            view_type=view_type,
            session_id=session_id,
        )
    )
    await session.flush()


async def record_download(session: AsyncSession, download: FileDownload, *, counts: bool) -> None:
    if counts:  # the counter before the log row, as in record_view
        await session.execute(
            update(File)
            .where(File.id == download.file_id)
            .values(download_count=File.download_count + 1)
        )
    session.add(download)
    await session.flush()


async def record_upload(session: AsyncSession, upload: FileUpload) -> None:
    session.add(upload)
    await session.flush()


async def page_of_files(
    session: AsyncSession, filters: ListFilter, *, page: int, size: int
) -> tuple[Sequence[File], int]:
    """Live files matching `filters`, newest first, and how many match in all."""
    where: list[ColumnElement[bool]] = [File.is_deleted.is_(False)]
    query = select(File.id)
    if filters.category:
        query = query.join(FileCategory, FileCategory.id == File.file_category_id)
        where.append(FileCategory.name == filters.category)
    if filters.extension:
        where.append(File.file_extension == filters.extension)
    if filters.tag:
        tagged = (
            select(FileTagRelation.file_id)
            .join(FileTag, FileTag.id == FileTagRelation.tag_id)
            .where(FileTag.tag_name == filters.tag)
        )
        where.append(File.id.in_(tagged))
    if filters.query:
        escaped = filters.query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(File.original_filename.like(f"%{escaped}%", escape="\\"))
    total = await session.scalar(select(func.count()).select_from(query.where(*where).subquery()))
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
    return rows.unique().all(), total or 0


async def soft_delete(session: AsyncSession, file_id: int) -> None:
    now = utcnow()
    await session.execute(
        update(File)
        .where(File.id == file_id)
        .values(is_deleted=True, deleted_at=now, updated_at=now)
    )


async def set_md5(session: AsyncSession, file_id: int, md5: str) -> None:
    await session.execute(update(File).where(File.id == file_id).values(file_hash=md5))


async def files_without_md5(session: AsyncSession, limit: int) -> Sequence[tuple[int, str, str]]:
    result = await session.execute(
        select(File.id, File.file_uuid, File.storage_path)
        .where(File.file_hash.is_(None), File.is_deleted.is_(False))
        .order_by(File.id)
        .limit(limit)
    )
    return [(row[0], row[1], row[2]) for row in result.all()]
