"""A file's metadata is cached once read. A change marks the entry; the first reader after the
commit caches the new metadata, on every replica sharing the cache, and never the old one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from filewallball.access import keys
from filewallball.access.roles import Role
from filewallball.files import service
from tests.conftest import change
from tests.images.test_thumbnails import png
from tests.test_metrics import sample

pytestmark = pytest.mark.anyio


async def cache_counts(http: httpx.AsyncClient) -> tuple[float, float]:
    """(hits, misses) of the metadata cache so far."""
    exposition = (await http.get("/metrics")).text
    return (
        sample(exposition, "filewallball_cache_hits_total"),
        sample(exposition, "filewallball_cache_misses_total"),
    )


async def reads(
    http: httpx.AsyncClient, file: dict[str, Any], times: int
) -> tuple[list[Any], float, float]:
    """The details `times` over, and how many of those reads the cache answered and missed."""
    hits, misses = await cache_counts(http)
    answers = [(await http.get(file["info_url"])).json() for _ in range(times)]
    hits_after, misses_after = await cache_counts(http)
    return answers, hits_after - hits, misses_after - misses


@pytest.fixture
async def owner(paused: FastAPI) -> dict[str, str]:
    """The headers of an uploader's key."""
    async with paused.state.fwb.sessions() as session:
        issued = await keys.issue(session, "o", Role.uploader)
        await session.commit()
    return {"Authorization": f"Bearer {issued.secret}"}


async def upload(http: httpx.AsyncClient, **headers: str) -> dict[str, Any]:
    response = await http.post("/upload", files={"file": ("a.txt", b"hello")}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_new_file_is_cached_again_once_its_background_jobs_are_done(
    paused: FastAPI, http: httpx.AsyncClient
) -> None:
    response = await http.post("/upload", files={"file": ("a.png", png(3, 2))})
    file = response.json()
    assert (await http.get(file["info_url"])).json()["width"] is None
    await paused.state.fwb.jobs.run_until_idle()  # the image's size is filled in: marked

    answers, hits, misses = await reads(http, file, 10)

    assert {(answer["width"], answer["height"]) for answer in answers} == {(3, 2)}
    assert (hits, misses) == (9, 1)


async def test_after_a_change_the_next_reader_caches_the_new_metadata(
    http: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    file = await upload(http, **owner)
    await reads(http, file, 2)
    changed = await http.put(
        f"/files/{file['file_id']}/tags", json={"tags": ["new"]}, headers=owner
    )
    assert changed.status_code == 200, changed.text

    answers, hits, misses = await reads(http, file, 10)

    assert {tuple(answer["tags"]) for answer in answers} == {("new",)}
    assert (hits, misses) == (9, 1)


async def test_a_reader_cannot_cache_what_a_later_change_replaced(
    paused: FastAPI, http: httpx.AsyncClient
) -> None:
    """A reader sees the mark and loads the row; another write commits and marks the entry
    again; then the reader tries to cache what it loaded. The newer mark stays."""
    cache, file = paused.state.fwb.cache, await upload(http)
    key = f"file:{file['file_id']}"
    await service.forget(cache, file["file_id"])
    seen_by_reader = await cache.get(key)
    await service.forget(cache, file["file_id"])

    await cache.replace(key, seen_by_reader, b'{"loaded": "before the second write"}')

    assert (await cache.get(key) or b"").startswith(service.STALE)
    assert (await http.get(file["info_url"])).json()["file_id"] == file["file_id"]


async def test_while_a_change_is_under_way_readers_cache_nothing(
    paused: FastAPI, http: httpx.AsyncClient
) -> None:
    file = await upload(http)
    await service.hold(paused.state.fwb.cache, file["file_id"])

    _, hits, misses = await reads(http, file, 3)

    assert (hits, misses) == (0, 3)


async def test_a_file_deleted_behind_the_cache_cannot_be_changed(
    http: httpx.AsyncClient, owner: dict[str, str], database: Engine
) -> None:
    file = await upload(http, **owner)
    await reads(http, file, 2)  # cached
    # Deleted where the cache cannot see it: another replica whose cache is not shared.
    await change(database, f"UPDATE files SET is_deleted = 1 WHERE file_uuid = '{file['file_id']}'")

    refused = await http.patch(file["info_url"], json={"is_public": False}, headers=owner)

    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    # And the cache no longer shows it.
    assert (await http.get(file["info_url"], headers=owner)).status_code == 404
