"""The statistics queries. Activity comes from the roll-ups (a row per day, per client and
day or month), so that a year of it is a few hundred rows, not a million log rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Row, and_, desc, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.files.models import Blob, File, file_statistics
from filewallball.rollup import ClientActivity, DailyActivity, DailyUploadError, month_of


async def bytes_saved(session: AsyncSession) -> int:
    """Bytes that shared content spares: the files' sizes (deleted ones too, whose bytes stay
    until purged) less the blobs' sizes."""
    files = await session.scalar(select(func.coalesce(func.sum(File.file_size), 0)))
    blobs = await session.scalar(select(func.coalesce(func.sum(Blob.size), 0)))
    return max(int(files or 0) - int(blobs or 0), 0)


async def categories(session: AsyncSession) -> Sequence[Row[Any]]:
    rows = await session.execute(select(file_statistics).order_by(file_statistics.c.category_name))
    return rows.all()


async def activity(session: AsyncSession, since: date, until: date) -> Sequence[DailyActivity]:
    rows = await session.scalars(
        select(DailyActivity)
        .where(DailyActivity.day.between(since, until))
        .order_by(DailyActivity.day)
    )
    return rows.all()


async def upload_errors(session: AsyncSession, since: date, until: date) -> Sequence[Row[str, int]]:
    count = func.sum(DailyUploadError.count)
    rows = await session.execute(
        select(DailyUploadError.reason, count)
        .where(DailyUploadError.day.between(since, until))
        .group_by(DailyUploadError.reason)
        .order_by(desc(count), DailyUploadError.reason)
    )
    return rows.all()


async def top_downloaded(session: AsyncSession, limit: int) -> Sequence[Row[str, str, int]]:
    rows = await session.execute(
        select(File.file_uuid, File.original_filename, File.download_count)
        .where(File.is_deleted == false(), File.download_count > 0)
        .order_by(desc(File.download_count))
        .limit(limit)
    )
    return rows.all()


def periods(since: date, until: date) -> list[tuple[str, date, date]]:
    """The client_activity rows that cover since..until exactly: whole months as months, the
    days before the first and after the last whole month as days. (span, first, last)."""
    first_month = since if since.day == 1 else month_of(month_of(since) + timedelta(days=31))
    after_months = month_of(until + timedelta(days=1))
    if first_month >= after_months:
        return [("day", since, until)]
    spans = [("month", first_month, month_of(after_months - timedelta(days=1)))]
    if since < first_month:
        spans.append(("day", since, first_month - timedelta(days=1)))
    if after_months <= until:
        spans.append(("day", after_months, until))
    return spans


async def clients(
    session: AsyncSession, since: date, until: date, limit: int
) -> Sequence[Row[str, int, int, int]]:
    """The busiest clients of the range: most uploads and downloads first."""
    covered = or_(
        *(
            and_(ClientActivity.span == span, ClientActivity.period.between(first, last))
            for span, first, last in periods(since, until)
        )
    )
    uploads, downloads = func.sum(ClientActivity.uploads), func.sum(ClientActivity.downloads)
    rows = await session.execute(
        select(ClientActivity.client, uploads, downloads, func.sum(ClientActivity.bytes_downloaded))
        .where(covered)
        .group_by(ClientActivity.client)
        .order_by(desc(uploads + downloads), ClientActivity.client)
        .limit(limit)
    )
    return rows.all()
