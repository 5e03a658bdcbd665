"""GET /metrics: what an operator's Prometheus scrapes."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine

from filewallball.app import create_app
from filewallball.settings import Settings
from tests.conftest import STORAGE, record_backup_time
from tests.images.test_thumbnails import png

pytestmark = pytest.mark.anyio

IN_CI = os.environ.get("CI", "").lower() == "true"


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample, 0 when absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in exposition.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
async def quiet_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """No background jobs: their cache refreshes would hide the cache hits counted here."""
    app = create_app(settings.model_copy(update={"job_concurrency": 0}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield http


async def test_uploads_downloads_and_routes_are_counted(quiet_client: httpx.AsyncClient) -> None:
    client = quiet_client
    before = (await client.get("/metrics")).text
    created = (await client.post("/upload", files={"file": ("a.txt", b"12345")})).json()
    await client.get(created["download_url"])
    await client.head(created["download_url"])
    await client.get(created["info_url"])
    await client.get(created["info_url"])
    await client.post("/upload", files={"file": ("x.exe", b"MZ")})
    after = (await client.get("/metrics")).text

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("filewallball_uploads_total", outcome="success") == 1
    assert grew("filewallball_uploads_total", outcome="refused_type") == 1
    assert grew("filewallball_upload_bytes_total") == 5
    assert grew("filewallball_downloads_total", outcome="complete") == 1
    assert grew("filewallball_downloads_total", outcome="head") == 1  # not a download
    assert grew("filewallball_download_bytes_total") == 5
    assert grew("filewallball_upload_duration_seconds_count") == 1
    assert (
        grew(
            "filewallball_http_requests_total", method="GET", route="/files/{file_id}", status="200"
        )
        == 2
    )
    # The first read of the file's metadata goes to the database; the three after it do not.
    assert grew("filewallball_cache_misses_total") == 1
    assert grew("filewallball_cache_hits_total") == 3
    assert created["file_id"] not in after  # labels hold route templates, never raw paths


async def test_a_method_a_client_invents_adds_no_series_of_its_own(
    quiet_client: httpx.AsyncClient,
) -> None:
    before = (await quiet_client.get("/metrics")).text
    for invented in ("BREW", "WHEN", "PROPFIND"):
        await quiet_client.request(invented, "/health/live")
    await quiet_client.request("OPTIONS", "/health/live")
    after = (await quiet_client.get("/metrics")).text

    def grew(**labels: str) -> float:
        name = "filewallball_http_requests_total"
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew(method="other", route="/health/live", status="405") == 3
    assert grew(method="OPTIONS", route="/health/live", status="405") == 1
    assert not any(invented in after for invented in ("BREW", "WHEN", "PROPFIND"))


@pytest.mark.skipif(
    not shutil.which("promtool") and not IN_CI,
    reason="promtool (Debian package prometheus) is not installed",
)
async def test_exposition_passes_promtool(client: httpx.AsyncClient) -> None:
    await client.post("/upload", files={"file": ("a.txt", b"x")})
    exposition = (await client.get("/metrics")).content
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=exposition, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_the_service_s_state_is_sampled_at_each_scrape(
    quiet_client: httpx.AsyncClient, database: Engine
) -> None:
    client = quiet_client
    images = (("a.png", png(2, 2)), ("b.png", png(1, 1)))
    for name, content in images:
        await client.post("/upload", files={"file": (name, content)})
    await record_backup_time(database)

    exposition = (await client.get("/metrics")).text

    assert sample(exposition, "filewallball_stored_files") == 2
    assert sample(exposition, "filewallball_stored_bytes") == sum(len(c) for _, c in images)
    # Each image queued its thumbnail job, and this app runs none.
    assert sample(exposition, "filewallball_jobs_queued") >= 2
    assert sample(exposition, "filewallball_jobs_oldest_age_seconds") >= 0
    backed_up = datetime(2026, 11, 30, 2, 30, tzinfo=UTC).timestamp()
    assert sample(exposition, "filewallball_last_backup_timestamp_seconds") == backed_up
    assert "filewallball_activity_lag_seconds" in exposition
    assert "filewallball_db_pool_in_use" in exposition
    if STORAGE == "local":
        free = sample(exposition, "filewallball_storage_free_bytes")
        assert 0 < free <= sample(exposition, "filewallball_storage_capacity_bytes")


async def test_a_database_that_does_not_answer_leaves_its_gauges_out(settings: Settings) -> None:
    broken = settings.model_copy(update={"database_url": "mysql+asyncmy://nobody@127.0.0.1:1/x"})
    app = create_app(broken.model_copy(update={"auto_migrate": False, "job_concurrency": 0}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        scraped = await http.get("/metrics")

    assert scraped.status_code == 200
    assert "filewallball_stored_files" not in scraped.text
    assert "filewallball_activity_pending" in scraped.text  # this process's own still are
