"""GET /metrics: what an operator's Prometheus scrapes."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator

import httpx
import pytest

from filewallball.app import create_app
from filewallball.settings import Settings

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
