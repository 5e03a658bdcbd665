"""Health, liveness and readiness, as a load balancer and an operator see them."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from filewallball.app import create_app
from filewallball.settings import Settings
from tests.conftest import STORAGE

pytestmark = pytest.mark.anyio


async def test_health_reports_each_service(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["services"] == {"database": "ok", "storage": "ok", "cache": "ok"}
    assert body["backends"]["cache"] == ("redis" if settings.redis_url else "memory")


async def test_live_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "alive"}
    assert (await client.get("/health/ready")).status_code == 200


async def test_unreachable_database_gives_503_naming_it(settings: Settings, tmp_path: Path) -> None:
    broken = settings.model_copy(update={"database_url": "mysql+asyncmy://nobody@127.0.0.1:1/none"})
    app = create_app(broken)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        health = await http.get("/health")
        ready = await http.get("/health/ready")
        live = await http.get("/health/live")
        listing = await http.get("/files")
    assert health.status_code == ready.status_code == 503
    assert health.json()["failing"] == ["database"]
    assert health.json()["services"]["database"] == "unavailable"
    assert live.status_code == 200
    # The failure reaches clients as a problem, without SQL or addresses.
    assert listing.status_code == 503
    assert listing.headers["content-type"] == "application/problem+json"
    assert "127.0.0.1" not in listing.text and "SELECT" not in listing.text


@pytest.mark.skipif(
    STORAGE != "local", reason="a folder to break is local storage's; test_s3.py breaks S3"
)
async def test_unwritable_storage_gives_503_naming_it(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    shutil.rmtree(storage_dir)
    storage_dir.write_bytes(b"a file where the folder should be")
    response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["storage"]
    upload = await client.post("/upload", files={"file": ("a.txt", b"x")})
    assert upload.status_code == 503
    assert str(storage_dir) not in upload.text


async def test_redis_outage_degrades_to_the_database(settings: Settings) -> None:
    # Nothing listens on port 1: this is what an unreachable Redis looks like to us.
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        created = await http.post("/upload", files={"file": ("a.txt", b"still works")})
        info = await http.get(created.json()["info_url"])
        download = await http.get(created.json()["download_url"])
        health = await http.get("/health")
        delete = await http.delete(
            created.json()["info_url"],
            headers={"X-Delete-Token": created.json()["delete_token"]},
        )
    assert created.status_code == 201
    assert info.status_code == 200
    assert download.content == b"still works"
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["services"]["cache"] == "degraded"
    # Other replicas might still hold the file in the shared cache: refuse rather than lie.
    assert delete.status_code == 503
