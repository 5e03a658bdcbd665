"""The statistics queries. Each one is bounded by an indexed time range or a LIMIT."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, desc, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from filewallball.access.models import ApiKey
from filewallball.files.models import File, FileDownload, FileUpload, FileView, file_statistics

Timestamp = InstrumentedAttribute[datetime]


async def categories(session: AsyncSession) -> Sequence[Row[Any]]:
    rows = await session.execute(select(file_statistics).order_by(file_statistics.c.category_name))
    return rows.all()


async def count_between(
    session: AsyncSession, column: Timestamp, start: datetime, end: datetime
) -> int:
    value = await session.scalar(select(func.count()).where(column >= start, column < end))
    return int(value or 0)


async def per_day(
    session: AsyncSession, column: Timestamp, start: datetime, end: datetime
) -> dict[str, int]:
    day = func.date(column)
    rows = await session.execute(
        select(day, func.count()).where(column >= start, column < end).group_by(day)
    )
    return {str(when): int(count) for when, count in rows.all()}


async def top_downloaded(session: AsyncSession, limit: int) -> Sequence[Row[str, str, int]]:
    rows = await session.execute(
        select(File.file_uuid, File.original_filename, File.download_count)
        .where(File.is_deleted == false(), File.download_count > 0)
        .order_by(desc(File.download_count))
        .limit(limit)
    )
    return rows.all()


async def downloads_by_ip(
    session: AsyncSession, start: datetime, end: datetime, limit: int
) -> Sequence[Row[str | None, int, int]]:
    rows = await session.execute(
        select(
            FileDownload.downloader_ip,
            func.count(),
            func.coalesce(func.sum(FileDownload.bytes_downloaded), 0),
        )
        .where(FileDownload.created_at >= start, FileDownload.created_at < end)
        .group_by(FileDownload.downloader_ip)
        .order_by(desc(func.count()))
        .limit(limit)
    )
    return rows.all()


async def uploads_by_ip(
    session: AsyncSession, start: datetime, end: datetime, limit: int
) -> Sequence[Row[str | None, int]]:
    rows = await session.execute(
        select(FileUpload.client_ip, func.count())
        .where(FileUpload.upload_started_at >= start, FileUpload.upload_started_at < end)
        .group_by(FileUpload.client_ip)
        .order_by(desc(func.count()))
        .limit(limit)
    )
    return rows.all()


async def uploads_by_key(
    session: AsyncSession, start: datetime, end: datetime, limit: int
) -> Sequence[Row[str, int]]:
    rows = await session.execute(
        select(ApiKey.key_id, func.count())
        .join(File, File.owner_key_id == ApiKey.id)
        .where(File.created_at >= start, File.created_at < end)
        .group_by(ApiKey.key_id)
        .order_by(desc(func.count()))
        .limit(limit)
    )
    return rows.all()


async def upload_outcomes(
    session: AsyncSession, start: datetime, end: datetime
) -> Sequence[Row[str, str | None, int]]:
    rows = await session.execute(
        select(FileUpload.upload_status, FileUpload.error_reason, func.count())
        .where(FileUpload.upload_started_at >= start, FileUpload.upload_started_at < end)
        .group_by(FileUpload.upload_status, FileUpload.error_reason)
    )
    return rows.all()


VIEWS_AT = FileView.created_at
DOWNLOADS_AT = FileDownload.created_at
UPLOADS_AT = FileUpload.upload_started_at
