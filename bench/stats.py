"""Do the statistics queries stay under 200 ms with 100 000 files and 1 000 000 log rows?

Builds that data in a scratch SQLite database (and in MariaDB when FWB_BENCH_DATABASE_URL
names one, e.g. mysql://root@127.0.0.1:3306/filewallball_bench — it is emptied first), then
times each query behind GET /stats over the default 30-day range and over a whole year.
Prints each time, its ratio to the 200 ms budget, and to a primary-key lookup measured in the
same run.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball import migrations
from filewallball.db import create_engine as create_async_engine
from filewallball.db import create_sessionmaker
from filewallball.files.models import File, FileDownload, FileUpload, FileView
from filewallball.settings import Settings
from filewallball.stats import repository as stats
from filewallball.stats import service

FILES, DOWNLOADS, VIEWS, UPLOADS = 100_000, 600_000, 300_000, 100_000
BUDGET_MS = 200.0
BATCH = 10_000
REASONS = ["too_large", "refused_type", "bad_request", "disconnected"]
TODAY = datetime.now(UTC).date()


def when(rng: random.Random) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=rng.randrange(365 * 86400))


def fill(settings: Settings) -> None:
    """The logs are written at the revision before the roll-ups, so that upgrading to head
    rolls them up as it would on a live database."""
    migrations.downgrade(settings, "base")
    migrations.upgrade(settings, "0004")
    url = settings.database_url.replace("+aiosqlite", "").replace("+asyncmy", "+pymysql")
    engine = create_engine(url)
    rng = random.Random(1122)
    ips = [
        f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(5000)
    ]
    with engine.begin() as connection:
        for start in range(0, FILES, BATCH):
            connection.execute(
                insert(File.__table__),
                [
                    {
                        "file_uuid": str(uuid.uuid4()),
                        "original_filename": f"file{n}.txt",
                        "stored_filename": f"{n:032x}",
                        "file_extension": "txt",
                        "mime_type": "text/plain",
                        "file_size": rng.randrange(1, 10**7),
                        "sha256": "0" * 64,
                        "storage_path": f"x/{n}",
                        "file_category_id": rng.randrange(1, 10),
                        "is_public": True,
                        "is_deleted": rng.random() < 0.05,
                        "view_count": 0,
                        "download_count": rng.randrange(50),
                        "thumbnail_status": "none",
                        "created_at": when(rng),
                        "updated_at": when(rng),
                    }
                    for n in range(start, start + BATCH)
                ],
            )
        for table, count, row in [
            (
                FileDownload.__table__,
                DOWNLOADS,
                lambda: {
                    "file_id": rng.randrange(1, FILES + 1),
                    "downloader_ip": rng.choice(ips),
                    "download_method": "GET",
                    "status_code": 200,
                    "bytes_downloaded": rng.randrange(10**6),
                    "download_duration_ms": 5,
                    "completed": True,
                    "created_at": when(rng),
                },
            ),
            (
                FileView.__table__,
                VIEWS,
                lambda: {
                    "file_id": rng.randrange(1, FILES + 1),
                    "viewer_ip": rng.choice(ips),
                    "view_type": "info",
                    "created_at": when(rng),
                },
            ),
            (
                FileUpload.__table__,
                UPLOADS,
                lambda: {
                    "file_id": None,
                    "client_ip": rng.choice(ips),
                    **(
                        {"upload_status": "completed", "error_reason": None}
                        if rng.random() < 0.9
                        else {"upload_status": "failed", "error_reason": rng.choice(REASONS)}
                    ),
                    "bytes_received": 100,
                    "upload_started_at": when(rng),
                },
            ),
        ]:
            for _ in range(0, count, BATCH):
                connection.execute(insert(table), [row() for _ in range(BATCH)])
        if engine.dialect.name != "sqlite":
            for table in ("files", "file_downloads", "file_views", "file_uploads"):
                connection.execute(text(f"ANALYZE TABLE {table}"))
        else:
            connection.execute(text("ANALYZE"))
    engine.dispose()
    started = time.perf_counter()
    migrations.upgrade(settings)
    print(f"rolled up the logs in {time.perf_counter() - started:.0f} s")


async def timed(run: Callable[[], Awaitable[Any]], repeat: int = 5) -> float:
    await run()  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def stats_queries(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], since: date, until: date
) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Each query behind GET /stats for the days since..until, ready to time."""
    return {
        "categories (view)": lambda: stats.categories(session),
        "activity per day": lambda: stats.activity(session, since, until),
        "top downloaded": lambda: stats.top_downloaded(session, 10),
        "usage per client": lambda: stats.clients(session, since, until, 10),
        "upload errors": lambda: stats.upload_errors(session, since, until),
        "whole GET /stats": lambda: service.full(sessions, since, until, 10),
    }


async def measure(settings: Settings) -> None:
    engine = create_async_engine(settings)
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        session: AsyncSession  # type: ignore[no-redef]
        reference = await timed(lambda: session.scalar(select(File).where(File.id == 4242)))
        for label, days in [("30 days", 30), ("a year", 365)]:
            queries = stats_queries(session, sessions, TODAY - timedelta(days=days - 1), TODAY)
            print(f"\n{engine.dialect.name}, {label}: pk lookup {reference:.2f} ms")
            print(f"  {'query':22} {'ms':>8} {'/budget':>8} {'/pk':>8}")
            for name, run in queries.items():
                ms = await timed(run)
                flag = "" if ms <= BUDGET_MS else "  OVER"
                print(f"  {name:22} {ms:8.1f} {ms / BUDGET_MS:8.2f} {ms / reference:8.0f}{flag}")
    await engine.dispose()


def main() -> None:
    targets = []
    scratch = tempfile.TemporaryDirectory(prefix="fwb-stats-")
    targets.append(Settings(database_url=f"sqlite:///{scratch.name}/bench.db"))
    if os.environ.get("FWB_BENCH_DATABASE_URL"):
        targets.append(Settings(database_url=os.environ["FWB_BENCH_DATABASE_URL"]))
    for settings in targets:
        started = time.perf_counter()
        fill(settings)
        seconds = time.perf_counter() - started
        print(f"filled {settings.database.get_backend_name()} in {seconds:.0f} s")
        asyncio.run(measure(settings))
    scratch.cleanup()


if __name__ == "__main__":
    main()
