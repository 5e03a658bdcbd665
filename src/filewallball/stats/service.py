"""Putting the statistics together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.rollup import DailyActivity
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


def _totals(categories: list[CategoryTotals], days: Sequence[DailyActivity], saved: int) -> Totals:
    return Totals(
        files=sum(c.file_count for c in categories),
        bytes=sum(c.total_size for c in categories),
        uploads=sum(day.uploads for day in days),
        downloads=sum(day.downloads for day in days),
        views=sum(day.views for day in days),
        bytes_saved=saved,
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
    categories, days, saved = await _each_in_own_session(
        sessions,
        _categories,
        lambda s: repository.activity(s, since, until),
        repository.bytes_saved,
    )
    return Summary(
        since=since, until=until, totals=_totals(categories, days, saved), categories=categories
    )


async def full(
    sessions: async_sessionmaker[AsyncSession], since: date, until: date, top: int
) -> Stats:
    categories, days, top_files, clients, errors, saved = await _each_in_own_session(
        sessions,
        _categories,
        lambda s: repository.activity(s, since, until),
        lambda s: repository.top_downloaded(s, top),
        lambda s: repository.clients(s, since, until, top),
        lambda s: repository.upload_errors(s, since, until),
        repository.bytes_saved,
    )
    attempted = sum(day.uploads for day in days)
    completed = sum(day.uploads_completed for day in days)
    return Stats(
        since=since,
        until=until,
        totals=_totals(categories, days, saved),
        categories=categories,
        per_day=[
            Day(day=day.day, uploads=day.uploads, downloads=day.downloads)
            for day in days
            if day.uploads or day.downloads
        ],
        top_downloaded=[
            TopFile(file_id=file_id, filename=name, downloads=int(n))
            for file_id, name, n in top_files
        ],
        clients=[
            ClientUsage(
                client=client,
                uploads=int(uploads),
                downloads=int(downloads),
                bytes_downloaded=int(sent),
            )
            for client, uploads, downloads, sent in clients
        ],
        upload_errors=[UploadError(reason=reason, count=int(n)) for reason, n in errors],
        upload_success_rate=round(completed / attempted, 4) if attempted else None,
    )
