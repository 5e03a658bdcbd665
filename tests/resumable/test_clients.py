"""Real tus clients we did not write (tuspy, tus-js-client) against a live `filewallball serve`:
they upload in several chunks, resume after an interruption, and survive the server being
killed in the middle of a chunk; a 1 GB upload leaves the server's memory flat."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from tusclient.client import TusClient

from tests.conftest import IN_CI, Backend, local_storage_only
from tests.test_crash import kill_9
from tests.test_server import LiveServer, MiB, start_server

pytestmark = [pytest.mark.server]

JS_CLIENT = Path(__file__).parent / "js"


def random_file(size: int) -> bytes:
    return os.urandom(size)


def downloaded(live: LiveServer, upload_url: str) -> bytes:
    """The bytes of the file an upload became, as anyone downloading it gets them."""
    described = httpx.get(f"{live.url}{urlsplit(upload_url).path}").json()
    assert described["complete"], described
    return httpx.get(described["download_url"]).content


def test_tuspy_uploads_in_chunks_with_checksums_and_resumes(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path
) -> None:
    live = start_server(clean_backend, storage_dir, tmp_path)
    data = random_file(5 * MiB + 123)
    try:
        client = TusClient(f"{live.url}/uploads")
        first = client.uploader(
            file_stream=io.BytesIO(data),
            chunk_size=MiB,
            metadata={"filename": "from-tuspy.bin"},
            upload_checksum=True,  # every PATCH carries its sha1
        )
        first.upload_chunk()
        first.upload_chunk()
        # The transfer stops here; a new uploader, knowing only the URL, asks where it was.
        resumed = client.uploader(
            file_stream=io.BytesIO(data), url=first.url, chunk_size=MiB, upload_checksum=True
        )
        assert resumed.offset == 2 * MiB
        resumed.upload()

        assert downloaded(live, resumed.url) == data
    finally:
        live.stop()


@pytest.fixture(scope="session")
def tus_js_client() -> Path:
    """tus-js-client from npm, installed once from its lock file; the script that drives it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if IN_CI:
            pytest.fail("CI must run tus-js-client: node and npm are missing (apt install npm)")
        pytest.skip("node and npm are not installed")
    if not (JS_CLIENT / "node_modules" / "tus-js-client").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=JS_CLIENT,
            check=True,
            timeout=300,
        )
    return JS_CLIENT / "upload.mjs"


def run_js(
    script: Path, endpoint: str, path: Path, chunk_size: int, how: str = ""
) -> dict[str, object]:
    done = subprocess.run(
        ["node", str(script), endpoint, str(path), str(chunk_size), how],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_tus_js_client_uploads_in_chunks_and_resumes(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path, tus_js_client: Path
) -> None:
    live = start_server(clean_backend, storage_dir, tmp_path)
    data = random_file(3 * MiB + 77)
    path = tmp_path / "from-js.bin"
    path.write_bytes(data)
    try:
        stopped = run_js(tus_js_client, f"{live.url}/uploads", path, 512 * 1024, f"stop:{MiB}")
        finished = run_js(
            tus_js_client, f"{live.url}/uploads", path, 512 * 1024, f"resume:{stopped['url']}"
        )

        assert finished["url"] == stopped["url"]
        assert finished["resumedFrom"] == stopped["confirmed"]  # not from the start
        assert finished["fileId"]  # read from the last answer's X-File-Id
        assert downloaded(live, str(finished["url"])) == data
    finally:
        live.stop()


def test_a_server_killed_mid_chunk_loses_only_that_chunk(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path
) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is a real client of ours: apt-get install curl"
    data = random_file(6 * MiB)
    first = start_server(clean_backend, storage_dir, tmp_path)
    uploader = TusClient(f"{first.url}/uploads").uploader(
        file_stream=io.BytesIO(data), chunk_size=2 * MiB, metadata={"filename": "survivor.bin"}
    )
    uploader.upload_chunk()
    uploader.upload_chunk()
    confirmed = uploader.offset
    path = urlsplit(uploader.url).path
    chunk = tmp_path / "third-chunk"
    chunk.write_bytes(data[confirmed:])
    # The third chunk arrives slowly, and the server dies while it does.
    sending = subprocess.Popen(
        [
            curl, "-s", "-X", "PATCH", "--limit-rate", "256k",
            "-H", "Tus-Resumable: 1.0.0",
            "-H", f"Upload-Offset: {confirmed}",
            "-H", "Content-Type: application/offset+octet-stream",
            "--data-binary", f"@{chunk}",
            f"{first.url}{path}",
        ]
    )  # fmt: skip
    time.sleep(2)
    kill_9(first)
    sending.wait(timeout=30)

    second = start_server(clean_backend, storage_dir, tmp_path)
    try:
        # Any replica continues it: the offset, the owner and the chunks are shared.
        resumed = TusClient(f"{second.url}/uploads").uploader(
            file_stream=io.BytesIO(data),
            url=f"{second.url}{path}",
            chunk_size=2 * MiB,
            retries=20,  # the dead server's lock on the upload lapses within seconds
            retry_delay=1,
        )
        assert resumed.offset == confirmed  # only the chunk in flight is sent again
        resumed.upload()

        assert downloaded(second, resumed.url) == data
    finally:
        second.stop()


@local_storage_only("a gigabyte held in moto's memory would measure moto, not us")
def test_a_1_gb_upload_in_10_mb_chunks_keeps_memory_flat(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path
) -> None:
    if clean_backend.name != "sqlite":
        pytest.skip("the server's memory does not depend on its database: measured on SQLite")
    size, chunk_size = 1024 * MiB, 10 * 1000 * 1000
    live = start_server(clean_backend, storage_dir, tmp_path, FWB_MAX_FILE_SIZE=str(2 * size))
    block = random_file(MiB)  # the file: this block over and over, each copy numbered
    peak, baseline = 0, live.rss()
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not sampling.is_set():
            with contextlib.suppress(psutil.Error):
                peak = max(peak, live.rss())
            time.sleep(0.05)

    def content(start: int, length: int) -> bytes:
        first, last = start // MiB, (start + length - 1) // MiB
        whole = b"".join(n.to_bytes(8, "big") + block[8:] for n in range(first, last + 1))
        return whole[start - first * MiB : start - first * MiB + length]

    sampler = threading.Thread(target=sample)
    sampler.start()
    digest = hashlib.sha256()
    try:
        with httpx.Client(base_url=live.url, timeout=120) as http:
            created = http.post(
                "/uploads",
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Upload-Length": str(size),
                    "Upload-Metadata": "filename Z2lnYWJ5dGUuYmlu",  # gigabyte.bin
                },
            )
            url = urlsplit(created.headers["location"]).path
            for start in range(0, size, chunk_size):
                data = content(start, min(chunk_size, size - start))
                digest.update(data)
                answer = http.patch(
                    url,
                    content=data,
                    headers={
                        "Tus-Resumable": "1.0.0",
                        "Upload-Offset": str(start),
                        "Content-Type": "application/offset+octet-stream",
                    },
                )
                assert answer.status_code == 204, answer.text
            info = http.get(answer.headers["x-info-url"]).json()
    finally:
        sampling.set()
        sampler.join()
        live.stop()

    assert (info["size"], info["sha256"]) == (size, digest.hexdigest())
    grown = (peak - baseline) / MiB
    # Chunks stream to storage and back through the pipeline in 1 MiB batches (measured: 3 MiB
    # of growth). A server that held a few 10 MB chunks, let alone the file, would pass 32.
    assert grown < 32, f"the server grew by {grown:.0f} MiB while receiving 1 GiB"
