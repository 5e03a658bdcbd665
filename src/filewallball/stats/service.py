"""Putting the statistics together."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

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


async def summary(session: AsyncSession, since: date, until: date) -> Summary:
    start, end = _bounds(since, until)
    categories = [
        CategoryTotals(
            name=str(row.category_name),
            file_count=int(row.file_count or 0),
            total_size=int(row.total_size or 0),
            avg_file_size=float(row.avg_file_size) if row.avg_file_size is not None else None,
            last_upload=row.last_upload,
        )
        for row in await repository.categories(session)
    ]
    totals = Totals(
        files=sum(c.file_count for c in categories),
        bytes=sum(c.total_size for c in categories),
        uploads=await repository.count_between(session, repository.UPLOADS_AT, start, end),
        downloads=await repository.count_between(session, repository.DOWNLOADS_AT, start, end),
        views=await repository.count_between(session, repository.VIEWS_AT, start, end),
    )
    return Summary(since=since, until=until, totals=totals, categories=categories)


async def full(session: AsyncSession, since: date, until: date, top: int) -> Stats:
    start, end = _bounds(since, until)
    base = await summary(session, since, until)
    uploads = await repository.per_day(session, repository.UPLOADS_AT, start, end)
    downloads = await repository.per_day(session, repository.DOWNLOADS_AT, start, end)
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

    for ip, count, sent in await repository.downloads_by_ip(session, start, end, top):
        entry = usage(f"ip:{ip}")
        entry.downloads, entry.bytes_downloaded = int(count), int(sent)
    for ip, count in await repository.uploads_by_ip(session, start, end, top):
        usage(f"ip:{ip}").uploads = int(count)
    for key_id, count in await repository.uploads_by_key(session, start, end, top):
        usage(f"key:{key_id}").uploads = int(count)
    outcomes = await repository.upload_outcomes(session, start, end)
    completed = sum(int(n) for status, _, n in outcomes if status == "completed")
    attempted = sum(int(n) for _, _, n in outcomes)
    errors: dict[str, int] = {}
    for status, reason, count in outcomes:
        if status != "completed":
            errors[reason or "unknown"] = errors.get(reason or "unknown", 0) + int(count)
    return Stats(
        **base.model_dump(),
        per_day=days,
        top_downloaded=[
            TopFile(file_id=file_id, filename=name, downloads=int(n))
            for file_id, name, n in await repository.top_downloaded(session, top)
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
