"""A server killed with SIGKILL in the middle of uploads leaves nothing behind once it starts
again: no upload temporary, no blob without its row, and every stored file intact."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import boto3
import httpx
import psutil
import pytest
from sqlalchemy import Engine, text

from filewallball.storage import Storage, create_storage
from filewallball.storage.s3 import S3Storage
from tests.conftest import Backend, blob_keys, on_storage, partial_writes_left
from tests.test_server import LiveServer, MiB, open_temporaries, start_server

pytestmark = [pytest.mark.server]
UPLOADS = 10
ORPHAN = "aa/bb/aabb0000000000000000000000000000"


def kill_9(live: LiveServer) -> None:
    """SIGKILL the server and its workers at once, as the kernel's OOM killer or a node
    failure would: no shutdown code runs."""
    root = psutil.Process(live.process.pid)
    for process in [*root.children(recursive=True), root]:
        process.kill()
    live.process.wait(timeout=10)


def uploads_in_flight(live: LiveServer) -> int:
    """Uploads the server is writing right now, seen from outside: its open temporaries on
    local storage, the multipart uploads begun in the bucket on S3."""
    if live.settings.storage != "s3":
        return open_temporaries(live)
    storage = create_storage(live.settings)
    assert isinstance(storage, S3Storage)
    bucket = boto3.client(
        "s3", endpoint_url=live.settings.s3_endpoint_url, region_name=live.settings.s3_region
    )
    listing = bucket.list_multipart_uploads(Bucket=storage.bucket, Prefix=storage.prefix)
    return len(listing.get("Uploads", []))


def swept_lines(log: Path) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "swept"]


async def plant_orphan(storage: Storage) -> None:
    """A blob whose upload died between its bytes and its row."""
    writer = storage.writer(ORPHAN)
    await writer.write(b"no row will ever point here")
    await writer.commit()


def test_kill_9_mid_upload_then_restart_leaves_no_temporary_and_no_orphan(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path, database: Engine
) -> None:
    live = start_server(clean_backend, storage_dir, tmp_path, FWB_MAX_FILE_SIZE=str(256 * MiB))
    stored: dict[str, str] = {}
    for n in range(3):
        content = f"kept {n}".encode() * 10_000
        created = httpx.post(f"{live.url}/upload", files={"file": (f"kept-{n}.txt", content)})
        assert created.status_code == 201, created.text
        stored[created.json()["file_id"]] = hashlib.sha256(content).hexdigest()
    big = tmp_path / "big.bin"
    big.write_bytes(hashlib.sha256(b"big").digest() * (40 * MiB // 32))
    on_storage(live.settings, plant_orphan)
    # Real clients, throttled so that every upload is still arriving when the server dies.
    clients = [
        subprocess.Popen(
            ["curl", "-sS", "--limit-rate", "1M", "-F", f"file=@{big}", f"{live.url}/upload"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(UPLOADS)
    ]
    try:
        deadline = time.monotonic() + 60
        while uploads_in_flight(live) < UPLOADS and time.monotonic() < deadline:
            time.sleep(0.1)
        assert uploads_in_flight(live) == UPLOADS
        kill_9(live)
    finally:
        for client in clients:
            client.wait(timeout=30)

    time.sleep(1.5)  # older than the restarted server's FWB_STALE_UPLOAD_SECONDS
    restarted = start_server(clean_backend, storage_dir, tmp_path, FWB_STALE_UPLOAD_SECONDS="1")
    try:
        deadline = time.monotonic() + 60
        while not swept_lines(restarted.log) and time.monotonic() < deadline:
            time.sleep(0.2)
        swept = swept_lines(restarted.log)
        assert swept, restarted.log.read_text()
        assert swept[0]["temporaries"] == UPLOADS
        assert swept[0]["orphans"] == 1

        assert on_storage(restarted.settings, partial_writes_left) == 0
        with database.connect() as connection:
            referenced = set(connection.execute(text("SELECT storage_path FROM files")).scalars())
        assert set(on_storage(restarted.settings, blob_keys)) == referenced
        assert len(referenced) == len(stored)
        for file_id, sha256 in stored.items():
            download = httpx.get(f"{restarted.url}/download/{file_id}", timeout=30)
            assert download.status_code == 200
            assert hashlib.sha256(download.content).hexdigest() == sha256
    finally:
        restarted.stop()
