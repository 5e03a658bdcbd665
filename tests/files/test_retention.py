"""Expiring links and the cleanup: a file may stop after a time or after so many downloads
(410, gone from every list), its owner may change both, and `filewallball cleanup` purges what
is expired or long deleted, and prunes old logs, exactly once however many run it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from filewallball.access.roles import Role
from filewallball.admin import cleanup
from filewallball.settings import Settings
from filewallball.storage import Storage
from tests.conftest import ClientFor, activity_written, blob_keys, change, count_rows, run_cli

pytestmark = pytest.mark.anyio


async def expire(database: Engine, file_id: str) -> None:
    """Move the file's expiry into the past, for what reads the database (the cleanup); what
    the service caches only time can change."""
    await change(
        database,
        f"UPDATE files SET expires_at = '2020-01-01 00:00:00' WHERE file_uuid = '{file_id}'",
    )


async def test_an_expired_link_is_gone_everywhere(client: httpx.AsyncClient) -> None:
    uploaded = (
        await client.post(
            "/upload", files={"file": ("soon.txt", b"read me soon")}, data={"expires_in": "1"}
        )
    ).json()
    file_id = uploaded["file_id"]
    assert uploaded["expires_at"] is not None
    assert (await client.get(f"/download/{file_id}")).content == b"read me soon"

    await asyncio.sleep(1.1)

    for path in (f"/files/{file_id}", f"/download/{file_id}", f"/view/{file_id}"):
        answer = await client.get(path)
        assert answer.status_code == 410, path
        assert answer.headers["content-type"] == "application/problem+json"
        assert "expired" in answer.json()["detail"]
    assert (await client.get("/files")).json()["total"] == 0
    assert (await client.get("/categories")).json()  # still answers, without the file


async def test_max_downloads_holds_exactly_under_concurrent_downloads(
    client: httpx.AsyncClient,
) -> None:
    file_id = (
        await client.put("/upload/limited.txt", params={"max_downloads": 3}, content=b"x" * 5000)
    ).json()["file_id"]
    resumed = await client.get(f"/download/{file_id}", headers={"Range": "bytes=100-"})

    answers = await asyncio.gather(*(client.get(f"/download/{file_id}") for _ in range(10)))

    # A resumed download (a range after the first byte) does not use one up.
    assert resumed.status_code == 206
    assert sorted(answer.status_code for answer in answers) == [200] * 3 + [410] * 7
    assert (await client.get(f"/files/{file_id}")).status_code == 410
    assert (await client.get("/files")).json()["total"] == 0


async def test_the_owner_may_change_both_and_no_one_else(client_for: ClientFor) -> None:
    owner, stranger = await client_for(Role.uploader), await client_for(Role.uploader)
    file_id = (
        await owner.put(
            "/upload/mine.txt", headers={"X-Expires-In": "1", "X-Max-Downloads": "1"}, content=b"m"
        )
    ).json()["file_id"]
    await asyncio.sleep(1.1)
    assert (await owner.get(f"/download/{file_id}")).status_code == 410

    extended = await owner.patch(f"/files/{file_id}", json={"expires_in": 3600})
    unlimited = await owner.patch(f"/files/{file_id}", json={"max_downloads": None})
    refused = await stranger.patch(f"/files/{file_id}", json={"expires_in": 3600})
    too_long = await owner.patch(f"/files/{file_id}", json={"expires_in": 10**9})

    assert extended.status_code == 200, extended.text
    assert unlimited.json()["max_downloads"] is None
    assert refused.status_code == 403
    assert too_long.status_code == 400
    assert [(await owner.get(f"/download/{file_id}")).status_code for _ in range(3)] == [200] * 3
    never = await owner.patch(f"/files/{file_id}", json={"expires_in": None})
    assert never.json()["expires_at"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expires_in", "soon"),
        ("expires_in", "0"),
        ("expires_in", "99999999"),
        ("max_downloads", "0"),
    ],
)
async def test_a_retention_that_cannot_be_kept_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, storage: Storage, database: Engine, field: str, value: str
) -> None:
    answer = await client.post("/upload", files={"file": ("a.txt", b"a")}, data={field: value})

    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in answer.json()["detail"]
    assert await blob_keys(storage) == []
    assert count_rows(database, "files") == 0


async def test_cleanup_purges_expired_and_long_deleted_files_once(
    paused: FastAPI, http: httpx.AsyncClient, database: Engine, storage: Storage
) -> None:
    # The paused app: its own periodic sweep, which cleans up too, must not run meanwhile.
    expired = (
        await http.post("/upload", files={"file": ("e.txt", b"e")}, data={"expires_in": "60"})
    ).json()
    deleted = (await http.post("/upload", files={"file": ("d.txt", b"d")})).json()
    kept = (await http.post("/upload", files={"file": ("k.txt", b"k")})).json()
    await http.get(f"/download/{kept['file_id']}")
    await activity_written(paused)
    await http.delete(
        f"/files/{deleted['file_id']}", headers={"X-Delete-Token": deleted["delete_token"]}
    )
    await expire(database, expired["file_id"])
    await change(
        database,
        "UPDATE files SET deleted_at = '2020-01-01 00:00:00' WHERE is_deleted = 1",
        "UPDATE file_views SET created_at = '2020-01-01 00:00:00'",
    )
    state = paused.state.fwb

    async def run() -> cleanup.Cleaned:
        return await cleanup.cleanup(
            state.sessions, state.cache, storage, purge_after_days=30, log_retention_days=365
        )

    first, second = await asyncio.gather(run(), run())  # as two replicas would, at once

    assert first.purged + second.purged == 2
    assert count_rows(database, "files") == 1
    assert len(await blob_keys(storage)) == 1
    assert count_rows(database, "audit_logs", "action = 'purge' AND actor = 'cleanup'") == 2
    assert count_rows(database, "file_downloads") == 1  # recent logs stay
    assert (await http.get(f"/download/{kept['file_id']}")).content == b"k"


async def test_the_cleanup_command_says_what_it_did(
    http: httpx.AsyncClient, database: Engine, settings: Settings
) -> None:
    # The paused app: its own periodic sweep, which cleans up too, must not purge it first.
    uploaded = (
        await http.post("/upload", files={"file": ("e.txt", b"e")}, data={"expires_in": "60"})
    ).json()
    await expire(database, uploaded["file_id"])

    done = await run_cli(settings, "cleanup")

    assert done.returncode == 0, done.stderr
    assert "1 files purged" in done.stdout
    assert count_rows(database, "files") == 0
