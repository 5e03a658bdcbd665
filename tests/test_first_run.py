"""The one-command start: `filewallball serve` with no settings at all makes its own SQLite
database and storage folder under ./data, migrates them, and serves, under either server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from filewallball.settings import Settings
from filewallball.storage import Storage
from tests.conftest import blob_keys, free_port, local_storage_only, on_storage

pytestmark = [pytest.mark.server]


@pytest.fixture(params=["granian", "uvicorn"])
def first_run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A server started in an empty folder, with no FWB_ setting in its environment."""
    port = free_port()
    environment = {name: value for name, value in os.environ.items() if "FWB_" not in name}
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "filewallball", "serve", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--server", request.param],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the server did not come up:\n{log.read_text()}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@local_storage_only("the files it keeps are in ./data")
def test_serve_needs_no_settings_and_keeps_everything_under_data(
    first_run: str, tmp_path: Path
) -> None:
    uploaded = httpx.post(
        f"{first_run}/upload", files={"file": ("hello.txt", b"hello, world")}, timeout=10
    )

    assert uploaded.status_code == 201, uploaded.text
    links = uploaded.json()
    assert links["download_url"].startswith(first_run)
    assert httpx.get(links["download_url"], timeout=10).content == b"hello, world"
    assert (tmp_path / "data" / "filewallball.db").is_file()
    assert on_storage(Settings(storage_dir=tmp_path / "data" / "files"), contents) == [
        b"hello, world"
    ]


async def contents(storage: Storage) -> list[bytes]:
    """The bytes of every blob, through the storage the default settings make."""
    found = []
    for key in await blob_keys(storage):
        found.append(b"".join([chunk async for chunk in storage.read(key)]))
    return found
