"""What a crash leaves behind is swept: upload temporaries and blobs no row describes, once
older than FWB_STALE_UPLOAD_SECONDS; never a blob a row points at."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from filewallball import migrations
from filewallball.app import create_app
from filewallball.files import sweep
from filewallball.images.service import thumbnail_key
from filewallball.settings import Settings
from filewallball.storage import Storage
from tests.conftest import blob_keys, partial_writes_left
from tests.test_metrics import sample

pytestmark = pytest.mark.anyio
ORPHAN = "aa/bb/aabb0000000000000000000000000000"


def sweep_keys(database: Engine, state: str) -> list[str | None]:
    """The unique keys of the sweep jobs in `state` (None for a job that holds none)."""
    with database.connect() as connection:
        query = text("SELECT unique_key FROM jobs WHERE kind = 'sweep' AND state = :state")
        return list(connection.execute(query, {"state": state}).scalars())


async def put(storage: Storage, key: str, data: bytes = b"left behind") -> None:
    writer = storage.writer(key)
    await writer.write(data)
    await writer.commit()


async def upload(http: httpx.AsyncClient, name: str = "kept.txt") -> str:
    response = await http.post("/upload", files={"file": (name, b"kept")})
    assert response.status_code == 201, response.text
    return await blob_key_of(http, response.json()["file_id"])


async def blob_key_of(http: httpx.AsyncClient, file_id: str) -> str:
    app: FastAPI = http._transport.app  # type: ignore[attr-defined]
    async with app.state.fwb.sessions() as session:
        path = await session.scalar(
            text("SELECT storage_path FROM files WHERE file_uuid = :id"), {"id": file_id}
        )
    assert isinstance(path, str)
    return path


async def test_a_blob_without_a_row_is_removed_once_stale(
    paused: FastAPI, http: httpx.AsyncClient
) -> None:
    storage: Storage = paused.state.fwb.storage
    kept = await upload(http)
    await put(storage, ORPHAN)
    await put(storage, thumbnail_key(ORPHAN, "small"))

    swept = await sweep.sweep(storage, paused.state.fwb.sessions, stale_seconds=0)

    assert swept.orphans == 2
    assert await blob_keys(storage) == [kept]


async def test_young_blobs_and_writes_may_belong_to_an_upload_still_landing(
    paused: FastAPI,
) -> None:
    storage: Storage = paused.state.fwb.storage
    await put(storage, ORPHAN)
    landing = storage.writer("cc/dd/ccdd0000000000000000000000000000")
    await landing.write(b"half a file")

    swept = await sweep.sweep(storage, paused.state.fwb.sessions, stale_seconds=3600)

    assert (swept.temporaries, swept.orphans) == (0, 0)
    assert await blob_keys(storage) == [ORPHAN]
    await landing.commit()  # the write was spared: it still lands
    assert await storage.exists("cc/dd/ccdd0000000000000000000000000000")


async def test_abandoned_writes_are_removed_once_stale(paused: FastAPI) -> None:
    storage: Storage = paused.state.fwb.storage
    cut_off = [storage.writer(f"ee/ff/eeff000000000000000000000000000{n}") for n in range(3)]
    for writer in cut_off:
        await writer.write(b"cut off")

    swept = await sweep.sweep(storage, paused.state.fwb.sessions, stale_seconds=0)

    assert swept.temporaries == 3
    assert await partial_writes_left(storage) == 0
    assert await blob_keys(storage) == []
    for writer in cut_off:  # a process killed mid-upload never gets here; this one tidies up
        await writer.abort()


async def test_files_with_a_row_keep_their_bytes_and_thumbnails_deleted_or_not(
    paused: FastAPI, http: httpx.AsyncClient
) -> None:
    storage: Storage = paused.state.fwb.storage
    first = await http.post("/upload", files={"file": ("a.txt", b"first")})
    second = await http.post("/upload", files={"file": ("b.txt", b"second")})
    first_key = await blob_key_of(http, first.json()["file_id"])
    second_key = await blob_key_of(http, second.json()["file_id"])
    await put(storage, thumbnail_key(first_key, "small"), b"a thumbnail")
    token = second.json()["delete_token"]
    deleted = await http.delete(
        f"/files/{second.json()['file_id']}", headers={"X-Delete-Token": token}
    )
    assert deleted.status_code == 204  # soft: restorable, so its bytes stay

    swept = await sweep.sweep(storage, paused.state.fwb.sessions, stale_seconds=0)

    assert swept.orphans == 0
    assert await blob_keys(storage) == sorted(
        [first_key, second_key, thumbnail_key(first_key, "small")]
    )
    download = await http.get(f"/download/{first.json()['file_id']}")
    assert download.content == b"first"


async def test_what_was_swept_is_counted_in_the_metrics(
    paused: FastAPI, http: httpx.AsyncClient
) -> None:
    storage: Storage = paused.state.fwb.storage
    before = sample(
        (await http.get("/metrics")).text, "filewallball_swept_blobs_total", kind="orphan"
    )
    await put(storage, ORPHAN)

    await sweep.sweep(storage, paused.state.fwb.sessions, stale_seconds=0)

    after = sample(
        (await http.get("/metrics")).text, "filewallball_swept_blobs_total", kind="orphan"
    )
    assert after == before + 1


async def test_every_start_sweeps_and_the_periodic_sweep_is_scheduled_once_per_interval(
    settings: Settings, database: Engine
) -> None:
    quiet = settings.model_copy(update={"job_concurrency": 0, "sweep_interval_seconds": 3600})
    for _ in range(3):  # three replicas starting at once, or one restarting
        app = create_app(quiet)
        async with app.router.lifespan_context(app):
            pass
    keys = sorted(sweep_keys(database, "pending"))
    # Starts share the sweep that waits to run, and the next interval has its one sweep.
    assert len(keys) == 2
    assert keys[1] == "sweep:start"
    assert keys[0].startswith("sweep:3600:")


async def test_a_start_after_the_start_sweep_ran_gets_a_sweep_of_its_own(
    settings: Settings, database: Engine
) -> None:
    quiet = settings.model_copy(update={"job_concurrency": 0})
    first = create_app(quiet)
    async with first.router.lifespan_context(first):
        await first.state.fwb.jobs.run_until_idle()  # the start's sweep runs
    restarted = create_app(quiet)  # as after a crash, within the same minute
    async with restarted.router.lifespan_context(restarted):
        pass
    assert sweep_keys(database, "pending").count("sweep:start") == 1


async def test_the_periodic_sweep_runs_as_a_job_and_schedules_the_next(
    settings: Settings, database: Engine
) -> None:
    app = create_app(
        settings.model_copy(
            update={
                "job_concurrency": 0,
                "stale_upload_seconds": 0.001,
                "sweep_interval_seconds": 1,
            }
        )
    )
    async with app.router.lifespan_context(app):
        await put(app.state.fwb.storage, ORPHAN)
        await app.state.fwb.jobs.run_until_idle()
        assert await blob_keys(app.state.fwb.storage) == []
    assert len(sweep_keys(database, "done")) >= 1
    assert len(sweep_keys(database, "pending")) >= 1  # the next interval's sweep waits its turn


async def test_not_a_byte_outside_the_upload_key_layout_is_touched(paused: FastAPI) -> None:
    # A storage folder shared with the database or an operator's files: none of it is ours.
    storage: Storage = paused.state.fwb.storage
    strangers = ["filewallball.db", "lost+found/123", "notes/readme.txt", "aa/bb/short"]
    for key in strangers:
        await put(storage, key)

    swept = await sweep.sweep(storage, paused.state.fwb.sessions, stale_seconds=0)

    assert swept.orphans == 0
    assert await blob_keys(storage) == sorted(strangers)


async def test_sweeps_are_scheduled_once_the_database_can_be_reached(
    tmp_path: Path, database: Engine
) -> None:
    late = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'late.db'}",
        storage_dir=tmp_path / "files",
        job_concurrency=0,
    )
    app = create_app(late)
    async with app.router.lifespan_context(app):  # starts although it cannot schedule yet
        # The database becomes usable after the service started.
        await anyio.to_thread.run_sync(migrations.upgrade, late)
        for _ in range(150):  # 30 s at most: the retries come after 1, 2, 4 … seconds
            if await pending_sweeps(app):
                break
            await asyncio.sleep(0.2)
        assert await pending_sweeps(app) == 2  # the start's sweep and the next interval's


async def pending_sweeps(app: FastAPI) -> int:
    async with app.state.fwb.sessions() as session:
        try:
            count = await session.scalar(
                text("SELECT COUNT(*) FROM jobs WHERE kind = 'sweep' AND state = 'pending'")
            )
        except OperationalError:
            return 0  # no jobs table yet
    return int(count or 0)
