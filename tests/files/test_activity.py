"""Views and downloads are recorded off the request path: each process buffers them and writes
them in batches. Every event is written exactly once, whatever the concurrency, the number of
replicas, or the database refusing writes for a while."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError

from filewallball.app import create_app
from filewallball.settings import Settings
from tests.conftest import activity_written, count_rows
from tests.files.conftest import inserts_refused, refusal
from tests.test_metrics import sample

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def replica(
    settings: Settings, ip: str = "203.0.113.7", **changes: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A running app (one replica, or one worker process) and a client of it from `ip`."""
    app = create_app(
        settings.model_copy(update={"job_concurrency": 0, "rate_limit_enabled": False, **changes})
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield app, http


async def upload(http: httpx.AsyncClient, name: str = "a.txt") -> dict[str, Any]:
    response = await http.post("/upload", files={"file": (name, b"hello")})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll `check` until it holds; fail after a deadline generous enough to catch only hangs."""
    deadline = time.monotonic() + 30
    while not await check():
        assert time.monotonic() < deadline, f"{check.__name__} never held"
        await asyncio.sleep(0.05)


def counters(database: Engine, file: dict[str, Any]) -> tuple[int, int]:
    with database.connect() as connection:
        views, downloads = connection.execute(
            text("SELECT view_count, download_count FROM files WHERE file_uuid = :id"),
            {"id": file["file_id"]},
        ).one()
    return views, downloads


def rolled_up(database: Engine) -> tuple[int, int]:
    """Views and downloads as the statistics count them."""
    with database.connect() as connection:
        views, downloads = connection.execute(
            text("SELECT COALESCE(SUM(views), 0), COALESCE(SUM(downloads), 0) FROM daily_activity")
        ).one()
    return int(views), int(downloads)


async def test_two_hundred_concurrent_views_of_one_file_are_each_counted_once(
    settings: Settings, database: Engine
) -> None:
    # Small batches: the writer flushes many times while the views still arrive.
    async with replica(settings, activity_batch_size=16) as (app, http):
        file = await upload(http)
        answers = await asyncio.gather(*(http.get(file["info_url"]) for _ in range(200)))
        assert {answer.status_code for answer in answers} == {200}
        await activity_written(app)
        info = (await http.get(file["info_url"])).json()

    assert info["view_count"] == 201  # the 200 written, and this view
    assert counters(database, file) == (201, 0)
    assert count_rows(database, "file_views") == 201
    assert rolled_up(database) == (201, 0)


async def test_activity_waits_while_the_database_refuses_it_then_is_written_once(
    settings: Settings, database: Engine
) -> None:
    # Only this test writes (no timed flushes): a trigger cannot be dropped while the app's
    # own failed batch, waiting on this very event loop, still holds the table.
    async with replica(settings, activity_flush_seconds=60) as (app, http):
        file = await upload(http)
        async with (
            inserts_refused(database, "file_views"),
            inserts_refused(database, "file_downloads"),
        ):
            views = [await http.get(file["info_url"]) for _ in range(3)]
            download = await http.get(file["download_url"])
            # Requests never wait for the log: they succeed, their events wait.
            assert [view.status_code for view in views] == [200, 200, 200]
            assert download.status_code == 200
            assert download.content == b"hello"
            with pytest.raises(DBAPIError):
                await app.state.fwb.activity.flush()
            assert app.state.fwb.activity.pending == 4
            assert counters(database, file) == (0, 0)  # the failed batch left nothing behind
        await activity_written(app)
        assert app.state.fwb.activity.pending == 0

    assert counters(database, file) == (3, 1)
    assert count_rows(database, "file_views") == 3
    assert count_rows(database, "file_downloads") == 1
    assert rolled_up(database) == (3, 1)


async def test_the_writer_retries_on_its_own_until_the_database_accepts(
    settings: Settings, database: Engine
) -> None:
    refuse, accept = refusal(database.dialect.name, "file_views")
    async with replica(settings) as (app, http):
        file = await upload(http)
        with database.begin() as connection:  # nothing is pending: no batch holds the table
            connection.execute(text(refuse))
        failures = "filewallball_activity_flush_failures_total"
        before = sample((await http.get("/metrics")).text, failures)
        for _ in range(5):
            assert (await http.get(file["info_url"])).status_code == 200

        async def tried() -> bool:
            return sample((await http.get("/metrics")).text, failures) > before

        await eventually(tried)  # the writer tried, and the database refused
        # Accepted again through the app's own engine: its failing batches must keep running.
        async with app.state.fwb.engine.begin() as connection:
            await connection.execute(text(accept))

        async def written() -> bool:
            return app.state.fwb.activity.pending == 0

        await eventually(written)
        assert counters(database, file) == (5, 0)

    assert count_rows(database, "file_views") == 5


async def test_past_the_bound_new_events_are_dropped_and_counted(
    settings: Settings, database: Engine
) -> None:
    async with replica(settings, activity_max_pending=3, activity_flush_seconds=60) as (app, http):
        file = await upload(http)
        before = (await http.get("/metrics")).text
        answers = [await http.get(file["info_url"]) for _ in range(5)]
        after = (await http.get("/metrics")).text
        assert {answer.status_code for answer in answers} == {200}  # dropping is silent to users
        assert app.state.fwb.activity.pending == 3
        dropped = "filewallball_activity_dropped_total"
        assert sample(after, dropped) - sample(before, dropped) == 2
        await activity_written(app)

    assert counters(database, file) == (3, 0)


async def test_shutdown_writes_what_is_still_pending(settings: Settings, database: Engine) -> None:
    async with replica(settings, activity_flush_seconds=60) as (app, http):
        file = await upload(http)
        for _ in range(3):
            await http.get(file["download_url"])
        assert app.state.fwb.activity.pending == 3  # nothing written yet: the interval is long

    assert counters(database, file) == (0, 3)
    assert count_rows(database, "file_downloads") == 3
    assert rolled_up(database) == (0, 3)


async def test_two_replicas_writing_at_once_stay_exact(
    settings: Settings, database: Engine
) -> None:
    async with (
        replica(settings, "198.51.100.1", activity_batch_size=8) as (one, first),
        replica(settings, "198.51.100.2", activity_batch_size=8) as (two, second),
    ):
        files = [await upload(first, "a.txt"), await upload(second, "b.txt")]
        answers = await asyncio.gather(
            *(
                http.get(file[link])
                for http in (first, second)
                for file in files
                for link in ("info_url", "download_url")
                for _ in range(25)
            )
        )
        assert {answer.status_code for answer in answers} == {200}
        await asyncio.gather(activity_written(one), activity_written(two))

        for file in files:
            assert counters(database, file) == (50, 50)
        assert rolled_up(database) == (100, 100)
        with database.connect() as connection:
            per_client = dict(
                connection.execute(
                    text("SELECT client, downloads FROM client_activity WHERE span = 'month'")
                ).all()
            )
        assert per_client == {"ip:198.51.100.1": 50, "ip:198.51.100.2": 50}


async def test_events_of_a_file_purged_before_they_are_written_do_not_block_others(
    settings: Settings, database: Engine
) -> None:
    async with replica(settings, activity_flush_seconds=60) as (app, http):
        gone, kept = await upload(http, "gone.txt"), await upload(http, "kept.txt")
        await http.get(gone["info_url"])
        await http.get(kept["info_url"])
        with database.begin() as connection:  # as an admin's purge does
            connection.execute(
                text("DELETE FROM files WHERE file_uuid = :id"), {"id": gone["file_id"]}
            )
        await activity_written(app)
        assert app.state.fwb.activity.pending == 0

    assert counters(database, kept) == (1, 0)
    assert count_rows(database, "file_views") == 1
    assert rolled_up(database) == (1, 0)


async def test_under_steady_traffic_the_writer_commits_once_an_interval(settings: Settings) -> None:
    # Views arrive without pause for a second: a writer that wrote whatever arrived while it
    # wrote would commit back to back, a few events each, instead of once an interval.
    # Batches too large to fill within a round: only the interval may start one.
    async with replica(settings, activity_flush_seconds=0.25, activity_batch_size=10_000) as (
        app,
        http,
    ):
        file = await upload(http)
        batches = "filewallball_activity_batches_total"
        before = sample((await http.get("/metrics")).text, batches)
        views = 0
        started = time.monotonic()
        while time.monotonic() - started < 1:
            assert (await http.get(file["info_url"])).status_code == 200
            views += 1
            # A cached answer awaits nothing real in-process; over a socket, every request
            # gives the event loop to the other tasks, the writer among them.
            await asyncio.sleep(0)
        written = sample((await http.get("/metrics")).text, batches) - before
        await activity_written(app)

    assert views > 20  # enough traffic for the difference to show
    assert 1 <= written <= 6  # four intervals, and a round that began before the first view


async def test_a_popular_files_details_are_answered_without_the_database(
    settings: Settings,
) -> None:
    async with replica(settings, activity_flush_seconds=60) as (app, http):
        file = await upload(http)
        assert (await http.get(file["info_url"])).status_code == 200  # metadata and counts read
        statements: list[str] = []
        engine = app.state.fwb.engine.sync_engine
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            answers = [(await http.get(file["info_url"])).json() for _ in range(20)]
        finally:
            event.remove(engine, "before_cursor_execute", listener)

    assert statements == []
    assert all(answer["file_id"] == file["file_id"] for answer in answers)


COUNTS_QUERY = "SELECT files.view_count, files.download_count"


async def test_a_popular_file_shows_its_own_processs_writes_at_once_without_asking_again(
    settings: Settings,
) -> None:
    async with replica(settings, activity_flush_seconds=60) as (app, http):
        file = await upload(http)
        assert (await http.get(file["info_url"])).json()["view_count"] == 1  # counts read
        await activity_written(app)
        statements: list[str] = []
        engine = app.state.fwb.engine.sync_engine
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            shown = []
            for _ in range(5):
                shown.append((await http.get(file["info_url"])).json()["view_count"])
                await activity_written(app)  # the writer commits that view
            together = await asyncio.gather(*(http.get(file["info_url"]) for _ in range(20)))
        finally:
            event.remove(engine, "before_cursor_execute", listener)

    # Each answer counts every view before it and itself, though the counts were read once.
    assert shown == [2, 3, 4, 5, 6]
    assert {answer.json()["view_count"] for answer in together} == {7}
    assert not [sql for sql in statements if sql.startswith(COUNTS_QUERY)]


async def test_clients_that_miss_a_files_counts_together_wait_for_one_query(
    settings: Settings,
) -> None:
    async with replica(settings, activity_flush_seconds=60) as (app, http):
        file = await upload(http)
        statements: list[str] = []
        engine = app.state.fwb.engine.sync_engine
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            answers = await asyncio.gather(*(http.get(file["info_url"]) for _ in range(30)))
        finally:
            event.remove(engine, "before_cursor_execute", listener)

    assert all(answer.status_code == 200 for answer in answers)
    assert len([sql for sql in statements if sql.startswith(COUNTS_QUERY)]) == 1


async def test_counts_written_by_another_replica_show_within_about_a_second(
    settings: Settings,
) -> None:
    async with (
        replica(settings, "198.51.100.1") as (_, first),
        replica(settings, "198.51.100.2") as (two, second),
    ):
        file = await upload(first)
        assert (await first.get(file["info_url"])).json()["download_count"] == 0
        for _ in range(3):
            assert (await second.get(file["download_url"])).status_code == 200
        await activity_written(two)
        shown_at = time.monotonic()

        async def shown() -> bool:
            return (await first.get(file["info_url"])).json()["download_count"] == 3

        await eventually(shown)
        assert time.monotonic() - shown_at < 2
