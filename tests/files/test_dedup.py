"""Identical content is stored once: every file with it shares one blob, which goes only when
the last of them is purged, also when uploads and purges of that content race."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import Engine

from filewallball.access.roles import Role
from filewallball.storage import Storage
from tests.conftest import ClientFor, blob_keys, count_rows

pytestmark = pytest.mark.anyio

CONTENT = b"the same report, sent by everyone\n" * 300


async def test_the_same_content_is_stored_once_and_goes_with_its_last_file(
    client_for: ClientFor, storage: Storage, database: Engine
) -> None:
    admin = await client_for(Role.admin)
    first = (await admin.post("/upload", files={"file": ("a.txt", CONTENT)})).json()
    second = (await admin.put("/upload/b.txt", content=CONTENT)).json()
    other = (await admin.post("/upload", files={"file": ("c.txt", b"something else")})).json()

    assert len(await blob_keys(storage)) == 2  # two contents, two blobs
    for uploaded in (first, second):
        assert (await admin.get(uploaded["download_url"])).content == CONTENT

    assert (await admin.delete(f"/admin/files/{first['file_id']}")).status_code == 204
    assert (await admin.get(second["download_url"])).content == CONTENT  # still shared
    assert len(await blob_keys(storage)) == 2
    assert (await admin.delete(f"/admin/files/{second['file_id']}")).status_code == 204
    # The last file with that content is gone, and its bytes with it.
    assert len(await blob_keys(storage)) == 1
    assert (await admin.get(other["download_url"])).content == b"something else"
    assert count_rows(database, "blobs") == 1


async def test_uploads_and_purges_of_one_content_racing_keep_the_count_right(
    client_for: ClientFor, storage: Storage, database: Engine
) -> None:
    admin = await client_for(Role.admin)
    kept = (await admin.post("/upload", files={"file": ("kept.txt", CONTENT)})).json()
    doomed = [
        (await admin.post("/upload", files={"file": (f"{n}.txt", CONTENT)})).json()
        for n in range(3)
    ]

    async def upload(n: int) -> httpx.Response:
        return await admin.post("/upload", files={"file": (f"new{n}.txt", CONTENT)})

    async def purge(file_id: str) -> httpx.Response:
        return await admin.delete(f"/admin/files/{file_id}")

    answers = await asyncio.gather(
        *(upload(n) for n in range(4)), *(purge(f["file_id"]) for f in doomed)
    )

    assert [a.status_code for a in answers] == [201] * 4 + [204] * 3
    assert count_rows(database, "files") == 5
    assert count_rows(database, "blobs", "refs = 5") == 1
    assert len(await blob_keys(storage)) == 1
    for uploaded in [kept, *(a.json() for a in answers[:4])]:
        assert (await admin.get(uploaded["download_url"])).content == CONTENT


async def test_statistics_show_the_bytes_saved(client_for: ClientFor) -> None:
    admin = await client_for(Role.admin)
    for name in ("a.txt", "b.txt", "c.txt"):
        await admin.post("/upload", files={"file": (name, CONTENT)})

    totals = (await admin.get("/stats")).json()["totals"]

    assert totals["bytes_saved"] == 2 * len(CONTENT)
