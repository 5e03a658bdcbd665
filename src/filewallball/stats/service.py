"""Putting the statistics together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.stats import repository
from filewallball.stats.schemas import (
    CategoryTotals,
    ClientUsage,
    Day,
    Stats,
    Summary,
    TopFile,
    Totals,
    UploadError,
)


def _bounds(since: date, until: date) -> tuple[datetime, datetime]:
    start = datetime.combine(since, time.min, tzinfo=UTC)
    return start, datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)


async def _categories(session: AsyncSession) -> list[CategoryTotals]:
    return [
        CategoryTotals(
            name=str(row.category_name),
            file_count=int(row.file_count or 0),
            total_size=int(row.total_size or 0),
            avg_file_size=float(row.avg_file_size) if row.avg_file_size is not None else None,
            last_upload=row.last_upload,
        )
        for row in await repository.categories(session)
    ]


def _totals(categories: list[CategoryTotals], uploads: int, downloads: int, views: int) -> Totals:
    return Totals(
        files=sum(c.file_count for c in categories),
        bytes=sum(c.total_size for c in categories),
        uploads=uploads,
        downloads=downloads,
        views=views,
    )


async def _each_in_own_session(
    sessions: async_sessionmaker[AsyncSession],
    *queries: Callable[[AsyncSession], Awaitable[Any]],
) -> list[Any]:
    """Independent queries at once, each on its own connection: the answer takes as long as
    the slowest, not the sum."""

    async def run(query: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with sessions() as session:
            return await query(session)

    return list(await asyncio.gather(*(run(query) for query in queries)))


async def summary(sessions: async_sessionmaker[AsyncSession], since: date, until: date) -> Summary:
    start, end = _bounds(since, until)
    categories, uploads, downloads, views = await _each_in_own_session(
        sessions,
        _categories,
        lambda s: repository.count_between(s, repository.UPLOADS_AT, start, end),
        lambda s: repository.count_between(s, repository.DOWNLOADS_AT, start, end),
        lambda s: repository.count_between(s, repository.VIEWS_AT, start, end),
    )
    return Summary(
        since=since,
        until=until,
        totals=_totals(categories, uploads, downloads, views),
        categories=categories,
    )


async def full(
    sessions: async_sessionmaker[AsyncSession], since: date, until: date, top: int
) -> Stats:
    start, end = _bounds(since, until)
    (
        categories,
        views,
        uploads,
        downloads,
        top_files,
        by_ip_down,
        by_ip_up,
        by_key,
        outcomes,
    ) = await _each_in_own_session(
        sessions,
        _categories,
        lambda s: repository.count_between(s, repository.VIEWS_AT, start, end),
        lambda s: repository.per_day(s, repository.UPLOADS_AT, start, end),
        lambda s: repository.per_day(s, repository.DOWNLOADS_AT, start, end),
        lambda s: repository.top_downloaded(s, top),
        lambda s: repository.downloads_by_ip(s, start, end, top),
        lambda s: repository.uploads_by_ip(s, start, end, top),
        lambda s: repository.uploads_by_key(s, start, end, top),
        lambda s: repository.upload_outcomes(s, start, end),
    )
    days = [
        Day(
            day=date.fromisoformat(day),
            uploads=uploads.get(day, 0),
            downloads=downloads.get(day, 0),
        )
        for day in sorted(uploads.keys() | downloads.keys())
    ]
    clients: dict[str, ClientUsage] = {}

    def usage(name: str) -> ClientUsage:
        return clients.setdefault(
            name, ClientUsage(client=name, uploads=0, downloads=0, bytes_downloaded=0)
        )

    for ip, count, sent in by_ip_down:
        entry = usage(f"ip:{ip}")
        entry.downloads, entry.bytes_downloaded = int(count), int(sent)
    for ip, count in by_ip_up:
        usage(f"ip:{ip}").uploads = int(count)
    for key_id, count in by_key:
        usage(f"key:{key_id}").uploads = int(count)
    completed = sum(int(n) for status, _, n in outcomes if status == "completed")
    attempted = sum(int(n) for _, _, n in outcomes)
    errors: dict[str, int] = {}
    for status, reason, count in outcomes:
        if status != "completed":
            errors[reason or "unknown"] = errors.get(reason or "unknown", 0) + int(count)
    return Stats(
        since=since,
        until=until,
        # The per-day counts are the range's counts: no second pass over the logs.
        totals=_totals(categories, sum(uploads.values()), sum(downloads.values()), views),
        categories=categories,
        per_day=days,
        top_downloaded=[
            TopFile(file_id=file_id, filename=name, downloads=int(n))
            for file_id, name, n in top_files
        ],
        clients=sorted(
            clients.values(), key=lambda c: (c.uploads + c.downloads, c.client), reverse=True
        )[:top],
        upload_errors=[
            UploadError(reason=reason, count=count)
            for reason, count in sorted(errors.items(), key=lambda item: -item[1])
        ],
        upload_success_rate=round(completed / attempted, 4) if attempted else None,
    )
