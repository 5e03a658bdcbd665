"""DELETE /files/{id}: a soft delete that every endpoint, and every replica, sees at once."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine

from filewallball.app import create_app
from filewallball.settings import Settings
from filewallball.storage import Storage
from tests.conftest import blob_keys, count_rows
from tests.files.conftest import Uploader

pytestmark = pytest.mark.anyio


async def test_delete_hides_file_from_every_endpoint(
    client: httpx.AsyncClient, uploaded: Uploader, storage: Storage, database: Engine
) -> None:
    file = await uploaded("a.txt", b"secret")
    await client.get(file["info_url"])  # now cached

    token = {"X-Delete-Token": file["delete_token"]}
    response = await client.delete(file["info_url"], headers=token)

    assert response.status_code == 204
    for url in (file["info_url"], file["view_url"], file["download_url"]):
        assert (await client.get(url)).status_code == 404
    assert (await client.head(file["download_url"])).status_code == 404
    assert (await client.delete(file["info_url"], headers=token)).status_code == 404
    # Soft: the row is marked and the blob stays until a purge.
    assert count_rows(database, "files", "is_deleted = 1") == 1
    assert len(await blob_keys(storage)) == 1


async def test_delete_reaches_another_replica_sharing_the_cache(settings: Settings) -> None:
    if settings.redis_url is None:
        pytest.skip("replicas share a cache only through Redis")
    replicas = [create_app(settings), create_app(settings)]
    async with (
        replicas[0].router.lifespan_context(replicas[0]),
        replicas[1].router.lifespan_context(replicas[1]),
    ):
        one, two = (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
            for app in replicas
        )
        async with one, two:
            created = (await one.post("/upload", files={"file": ("a.txt", b"x")})).json()
            path = f"/files/{created['file_id']}"
            assert (await two.get(path)).status_code == 200  # cached by replica two
            token = {"X-Delete-Token": created["delete_token"]}
            assert (await one.delete(path, headers=token)).status_code == 204
            assert (await two.get(path)).status_code == 404
            assert (await two.get(f"/download/{created['file_id']}")).status_code == 404
