"""Choosing a backend: FWB_STORAGE, and the warnings and refusals that come with memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from filewallball.app import create_app
from filewallball.settings import Settings
from filewallball.storage import create_storage
from filewallball.storage.s3 import S3Storage
from tests.access.conftest import capturing_app_log
from tests.images.test_thumbnails import jpeg

pytestmark = pytest.mark.anyio


def test_local_is_the_default_and_memory_is_chosen_by_name(tmp_path: Path) -> None:
    assert create_storage(Settings(storage_dir=tmp_path)).name == "local"
    assert create_storage(Settings(storage="memory")).name == "memory"


def test_s3_is_chosen_with_its_bucket_folder_and_part_size() -> None:
    storage = create_storage(
        Settings(storage="s3", s3_bucket="files", s3_prefix="/prod/", s3_part_size=16 * 1024**2)
    )
    assert isinstance(storage, S3Storage)
    assert (storage.name, storage.bucket, storage.prefix) == ("s3", "files", "prod/")
    assert storage.object_key("ab/cd/x") == "prod/ab/cd/x"
    assert storage.part_size == 16 * 1024**2


async def test_the_app_runs_on_memory_storage_and_warns_that_files_vanish(
    settings: Settings, storage_dir: Path
) -> None:
    app = create_app(settings.model_copy(update={"storage": "memory", "job_concurrency": 0}))
    with capturing_app_log() as log:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                created = await http.post("/upload", files={"file": ("a.txt", b"in memory")})
                downloaded = await http.get(created.json()["download_url"])
                image = await http.post("/upload", files={"file": ("red.jpg", jpeg(300, 200))})
                await app.state.fwb.jobs.run_until_idle()
                thumbnail = await http.get(f"/thumbnails/{image.json()['file_id']}?size=small")
                health = (await http.get("/health")).json()
    assert created.status_code == 201
    assert downloaded.content == b"in memory"
    # The decoder process reads a copy of the blob: it needs no file of the storage's own.
    assert thumbnail.status_code == 200, thumbnail.text
    assert thumbnail.headers["content-type"] == "image/webp"
    assert health["backends"]["storage"] == "memory"
    [warning] = log.events("storage_in_memory")
    assert warning["level"] == "warning"
    assert "vanishes" in warning["detail"]
    assert not storage_dir.exists()  # not one byte went to the folder


def test_serve_refuses_memory_storage_with_several_workers(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "filewallball", "serve", "--workers", "2"],
        env={"FWB_STORAGE": "memory", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("filewallball: invalid setting FWB_STORAGE: memory keeps blobs")
    assert not (tmp_path / "data").exists()  # refused before migrating anything
