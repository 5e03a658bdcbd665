"""The real server, in its own processes: streaming memory, concurrency, cut connections,
several workers behind one database and storage."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import Engine, text

from filewallball.settings import Settings
from tests.conftest import (
    Backend,
    blob_keys,
    count_rows,
    free_port,
    local_storage_only,
    on_storage,
    partial_writes_left,
)
from tests.test_metrics import sample

pytestmark = [pytest.mark.server]
MiB = 1024 * 1024


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    settings: Settings  # where its data lives, to look at it through the same seams
    log: Path  # the server's stdout and stderr

    def stop(self) -> None:
        """SIGTERM, as Kubernetes stops a pod; a server that does not stop in time is killed,
        with its workers, so that it cannot disturb the tests after this one, and fails."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            root = psutil.Process(self.process.pid)
            for process in [*root.children(recursive=True), root]:
                process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(
                f"the server did not stop within 30 s of SIGTERM:\n{self.log}"
            ) from None

    def rss(self) -> int:
        """Resident memory of the server and its worker processes."""
        root = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


def start_server(
    backend: Backend,
    storage_dir: Path,
    tmp_path: Path,
    workers: int = 1,
    server: str = "granian",
    **env: str,
) -> LiveServer:
    port = free_port()
    environment = {
        **os.environ,
        "FWB_DATABASE_URL": backend.database_url,
        "FWB_STORAGE_DIR": str(storage_dir),
        "FWB_AUTO_MIGRATE": "false",
        "FWB_LOG_LEVEL": "warning",
        # These tests load one server from one address on purpose.
        "FWB_RATE_LIMIT_ENABLED": "false",
        "FWB_MAX_UPLOADS_PER_CLIENT": "100",
        "FWB_MAX_INFLIGHT_UPLOAD_BYTES": str(8 * 1024 * MiB),
        **env,
    }
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if backend.redis_url:
        environment["FWB_REDIS_URL"] = backend.redis_url
    log_path = tmp_path / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "filewallball",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--server",
                server,
            ],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                settings = Settings(database_url=backend.database_url, storage_dir=storage_dir)
                return LiveServer(url, process, settings, log_path)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(log_path.read_text())


@pytest.fixture
def server(clean_backend: Backend, storage_dir: Path, tmp_path: Path) -> Iterator[LiveServer]:
    live = start_server(clean_backend, storage_dir, tmp_path, FWB_MAX_FILE_SIZE=str(512 * MiB))
    yield live
    live.stop()


def _wait_for(condition, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def open_temporaries(live: LiveServer) -> int:
    """Upload temporaries the server's processes hold open: how many uploads are writing
    right now, seen from outside without taking one of their slots."""
    root = psutil.Process(live.process.pid)
    return sum(
        handle.path.endswith(".part")
        for process in [root, *root.children(recursive=True)]
        for handle in process.open_files()
    )


def test_200_mib_round_trip_keeps_server_memory_flat(server: LiveServer, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    block = hashlib.sha256(b"seed").digest() * (MiB // 32)
    digest = hashlib.sha256()
    with source.open("wb") as out:
        for i in range(200):
            chunk = block[:-4] + i.to_bytes(4, "big")
            digest.update(chunk)
            out.write(chunk)
    httpx.post(f"{server.url}/upload", files={"file": ("warm.txt", b"warm")})
    baseline = server.rss()
    peak = baseline
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with source.open("rb") as handle:
            created = httpx.post(
                f"{server.url}/upload", files={"file": ("big.bin", handle)}, timeout=120
            )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["size"] == 200 * MiB
        assert body["sha256"] == digest.hexdigest()
        received = hashlib.sha256()
        with httpx.stream("GET", body["download_url"], timeout=120) as response:
            for chunk in response.iter_bytes():
                received.update(chunk)
        assert received.hexdigest() == digest.hexdigest()
    finally:
        done.set()
        watcher.join()
    assert peak - baseline < 50 * MiB, f"server grew by {(peak - baseline) / MiB:.1f} MiB"


def test_50_concurrent_uploads_are_all_intact(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path, database: Engine
) -> None:
    # Two worker processes against one database and one storage folder.
    live = start_server(clean_backend, storage_dir, tmp_path, workers=2)
    try:
        contents = [os.urandom(64 * 1024 + i) for i in range(50)]

        async def run() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=50)
            async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as http:
                created = await asyncio.gather(
                    *(
                        http.post("/upload", files={"file": (f"f{i}.bin", c)})
                        for i, c in enumerate(contents)
                    )
                )
                assert [r.status_code for r in created] == [201] * 50
                return await asyncio.gather(*(http.get(r.json()["download_url"]) for r in created))

        downloads = asyncio.run(run())
        assert [d.content for d in downloads] == contents
        assert count_rows(database, "files") == 50
        assert len(on_storage(live.settings, blob_keys)) == 50
    finally:
        live.stop()


def _answers_by_worker(log: Path, request_ids: str) -> dict[int, list[int]]:
    """Statuses of the logged requests whose id starts with `request_ids`, by the serving pid."""
    answers: dict[int, list[int]] = {}
    *lines, _unfinished = log.read_text().split("\n")  # the server may be writing the last
    for line in lines:
        record = json.loads(line) if line.startswith("{") else {}
        if record.get("event") == "request" and record["request_id"].startswith(request_ids):
            answers.setdefault(record["pid"], []).append(record["status"])
    return answers


def test_delete_answers_404_at_once_on_every_worker(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path
) -> None:
    # On SQLite this runs without Redis: each worker would otherwise keep its own cache.
    live = start_server(
        clean_backend, storage_dir, tmp_path, workers=2, FWB_LOG_JSON="true", FWB_LOG_LEVEL="info"
    )

    def ask_every_worker(http: httpx.Client, path: str, request_ids: str) -> list[int]:
        """Asks until the log shows both workers answered; the statuses the client saw."""
        seen: list[int] = []
        deadline = time.monotonic() + 30
        while len(_answers_by_worker(live.log, request_ids)) < 2 and time.monotonic() < deadline:
            headers = {"X-Request-ID": f"{request_ids}{len(seen)}"}
            seen.append(http.get(path, headers=headers).status_code)
        return seen

    try:
        # A new connection per request spreads them over both workers.
        with httpx.Client(base_url=live.url, headers={"Connection": "close"}) as http:
            created = http.post("/upload", files={"file": ("gone.txt", b"soon gone")}).json()
            info = f"/files/{created['file_id']}"
            before = ask_every_worker(http, info, "before-")
            deleted = http.delete(info, headers={"X-Delete-Token": created["delete_token"]})
            after = ask_every_worker(http, info, "after-")
    finally:
        live.stop()
    assert deleted.status_code == 204
    assert set(before) == {200}
    assert set(after) == {404}
    # Both workers answered, before and after: each pid is one worker process.
    for request_ids, status in (("before-", 200), ("after-", 404)):
        answers = _answers_by_worker(live.log, request_ids)
        assert len(answers) == 2, f"{request_ids} answered by {sorted(answers)} only"
        assert all(set(statuses) == {status} for statuses in answers.values())


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_every_line_a_server_writes_is_json_and_requests_carry_their_id(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path, server: str
) -> None:
    live = start_server(
        clean_backend,
        storage_dir,
        tmp_path,
        workers=2,
        server=server,
        FWB_LOG_JSON="true",
        FWB_LOG_LEVEL="info",
    )
    try:
        httpx.get(f"{live.url}/files", headers={"X-Request-ID": "trace-listing"})
        httpx.get(f"{live.url}/files/not-a-file", headers={"X-Request-ID": "trace-missing"})
    finally:
        live.stop()
    lines = [line for line in live.log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    server_logger = "_granian" if server == "granian" else "uvicorn.error"
    assert any(r["logger"].startswith(server_logger) for r in records)  # start-up and shutdown
    assert all(isinstance(r.get("pid"), int) for r in records)  # which worker wrote it
    requests = [r for r in records if r["event"] == "request"]
    assert all(r.get("request_id") for r in requests)
    assert {r["request_id"] for r in requests} >= {"trace-listing", "trace-missing"}


@pytest.fixture
def logged_server(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path
) -> Iterator[LiveServer]:
    """A server writing its info lines as JSON, for tests that read its log."""
    live = start_server(
        clean_backend, storage_dir, tmp_path, FWB_LOG_LEVEL="info", FWB_LOG_JSON="true"
    )
    yield live
    live.stop()


def log_records(live: LiveServer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in live.log.read_text().splitlines() if line.strip()]


def raw_request(live: LiveServer, request: bytes) -> bytes:
    """Sends bytes as they are, half-closes, and reads the whole answer."""
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@local_storage_only("it sees the upload writing by its open temporary")
def test_client_disconnecting_mid_upload_is_a_499_not_an_error(
    logged_server: LiveServer, database: Engine
) -> None:
    server = logged_server
    head = b'--xx\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n\r\n'
    declared = len(head) + 20 * MiB + len(b"\r\n--xx--\r\n")
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=xx\r\n"
            b"Content-Length: " + str(declared).encode() + b"\r\n\r\n" + head
        )
        for _ in range(4):
            sock.sendall(b"z" * MiB)
        assert _wait_for(lambda: open_temporaries(server) == 1, timeout=60)  # writing
    assert _wait_for(
        lambda: count_rows(database, "file_uploads", "error_reason = 'client_disconnected'") == 1
    )
    assert on_storage(server.settings, blob_keys) == []
    assert on_storage(server.settings, partial_writes_left) == 0
    assert count_rows(database, "files") == 0
    # More than one write batch (1 MiB) of the file had arrived: its bytes had reached storage.
    where = f"error_reason = 'client_disconnected' AND bytes_received > {len(head) + MiB}"
    assert count_rows(database, "file_uploads", where) == 1
    exposition = httpx.get(f"{server.url}/metrics").text
    assert (
        sample(
            exposition,
            "filewallball_http_requests_total",
            method="POST",
            route="/upload",
            status="499",
        )
        == 1
    )
    assert 'status="500"' not in exposition
    assert sample(exposition, "filewallball_uploads_total", outcome="client_disconnected") == 1
    records = log_records(server)
    upload = next(r for r in records if r["event"] == "request" and r["route"] == "/upload")
    assert (upload["status"], upload["level"]) == (499, "info")
    assert not [r for r in records if r["level"] in {"error", "critical"}]
    assert not [r for r in records if "exception" in r]


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(b"Transfer-Encoding: chunked\r\n\r\n5\r\n--xx\r\r\nZZZ\r\n", id="bad-chunk"),
        pytest.param(b"Content-Length: 1000\r\n\r\n--xx\r\n", id="truncated"),
    ],
)
def test_a_malformed_or_truncated_body_is_a_400_problem(
    logged_server: LiveServer, database: Engine, framing: bytes
) -> None:
    answer = raw_request(
        logged_server,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: multipart/form-data; boundary=xx\r\n" + framing,
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == 400
    assert count_rows(database, "files") == 0
    assert on_storage(logged_server.settings, blob_keys) == []
    assert not [r for r in log_records(logged_server) if r["level"] == "error"]


def patterned(size: int) -> bytes:
    """`size` bytes where every 4 KiB block differs, so a block sent twice or skipped shows."""
    return b"".join((i.to_bytes(8, "big") * 512) for i in range(size // 4096)) + b"\xab" * (
        size % 4096
    )


def upload_big(live: LiveServer, content: bytes) -> dict[str, Any]:
    created = httpx.post(f"{live.url}/upload", files={"file": ("big.bin", content)}, timeout=120)
    assert created.status_code == 201, created.text
    return dict(created.json())


def how_sent(live: LiveServer, request_id: str) -> dict[str, Any]:
    """The server's own line on how it sent the body of one request."""
    found: dict[str, Any] = {}

    def logged() -> bool:
        nonlocal found
        *lines, _unfinished = live.log.read_text().split("\n")  # the last may be half written
        records = [json.loads(line) for line in lines if line.startswith("{")]
        found = next(
            (r for r in records if r["event"] == "request" and r.get("request_id") == request_id),
            {},
        )
        return bool(found)

    assert _wait_for(logged), f"no access line for {request_id}"
    return found


def downloads_logged(database: Engine) -> list[tuple[int, int, int]]:
    with database.connect() as connection:
        rows = connection.execute(
            text("SELECT status_code, bytes_downloaded, completed FROM file_downloads")
        ).all()
    return [(int(status), int(sent), int(completed)) for status, sent, completed in rows]


@local_storage_only("the kernel sends files, not objects")
def test_a_whole_download_is_handed_to_granian_and_arrives_byte_exact(
    logged_server: LiveServer, database: Engine
) -> None:
    content = patterned(64 * MiB)
    created = upload_big(logged_server, content)
    received = hashlib.sha256()
    with httpx.stream(
        "GET", created["download_url"], headers={"X-Request-ID": "whole"}, timeout=120
    ) as response:
        for chunk in response.iter_bytes():
            received.update(chunk)
    assert response.status_code == 200
    assert received.hexdigest() == hashlib.sha256(content).hexdigest()
    headers = response.headers
    assert headers["content-length"] == str(64 * MiB)
    assert headers["etag"] == f'"{created["sha256"]}"'
    assert parsedate_to_datetime(headers["last-modified"]) is not None
    assert headers["content-disposition"].startswith('attachment; filename="big.bin"')
    assert headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["accept-ranges"] == "bytes"
    assert headers["x-request-id"] == "whole"
    # The server sent the file itself: the app never read its bytes.
    sent = how_sent(logged_server, "whole")
    assert (sent["mode"], sent["bytes"], sent["complete"]) == ("pathsend", 64 * MiB, True)
    assert _wait_for(lambda: downloads_logged(database) == [(200, 64 * MiB, 1)])

    # Validators and HEAD answer as before, with no body to hand over.
    again = httpx.get(created["download_url"], headers={"If-None-Match": headers["etag"]})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", headers["etag"])
    head = httpx.head(created["download_url"])
    assert (head.status_code, head.headers["content-length"]) == (200, str(64 * MiB))
    assert head.headers["content-disposition"] == headers["content-disposition"]


def test_a_small_file_is_sent_from_memory_once_read(logged_server: LiveServer) -> None:
    content = patterned(10_000)
    created = upload_big(logged_server, content)
    whole = [
        httpx.get(created["download_url"], headers={"X-Request-ID": f"small-{n}"}) for n in range(2)
    ]
    part = httpx.get(
        created["download_url"], headers={"Range": "bytes=100-199", "X-Request-ID": "part"}
    )

    assert [(r.status_code, r.content) for r in whole] == [(200, content)] * 2
    about_the_file = (
        "content-type",
        "content-length",
        "content-disposition",
        "etag",
        "last-modified",
        "accept-ranges",
        "content-security-policy",
        "x-content-type-options",
    )
    read, kept = ([r.headers[name] for name in about_the_file] for r in whole)
    assert read == kept
    assert whole[1].headers["etag"] == f'"{created["sha256"]}"'
    assert (part.status_code, part.content) == (206, content[100:200])
    assert part.headers["content-range"] == "bytes 100-199/10000"
    for request_id, size in (("small-0", 10_000), ("small-1", 10_000), ("part", 100)):
        sent = how_sent(logged_server, request_id)
        assert (sent["mode"], sent["bytes"], sent["complete"]) == ("memory", size, True)


def test_a_single_range_from_granian_is_exact_and_streams(
    logged_server: LiveServer, database: Engine
) -> None:
    content = patterned(64 * MiB)
    created = upload_big(logged_server, content)
    first, last = 3 * MiB + 17, 40 * MiB - 5
    response = httpx.get(
        created["download_url"],
        headers={"Range": f"bytes={first}-{last}", "X-Request-ID": "range"},
        timeout=120,
    )
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/{64 * MiB}"
    assert response.content == content[first : last + 1]
    assert response.headers["etag"] == f'"{created["sha256"]}"'
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    # pathsend sends whole files only: a range goes through the app, counted as it leaves.
    assert how_sent(logged_server, "range")["mode"] == "stream"
    assert _wait_for(lambda: downloads_logged(database) == [(206, last - first + 1, 1)])

    past = httpx.get(created["download_url"], headers={"Range": f"bytes={64 * MiB}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{64 * MiB}"


def test_on_uvicorn_a_whole_download_streams_through_the_app(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path, database: Engine
) -> None:
    live = start_server(
        clean_backend,
        storage_dir,
        tmp_path,
        server="uvicorn",
        FWB_LOG_LEVEL="info",
        FWB_LOG_JSON="true",
        FWB_MAX_FILE_SIZE=str(128 * MiB),
    )
    try:
        content = patterned(64 * MiB)
        created = upload_big(live, content)
        response = httpx.get(
            created["download_url"], headers={"X-Request-ID": "fallback"}, timeout=120
        )
        assert response.status_code == 200
        assert response.content == content
        assert response.headers["etag"] == f'"{created["sha256"]}"'
        assert how_sent(live, "fallback")["mode"] == "stream"
        assert _wait_for(lambda: downloads_logged(database) == [(200, 64 * MiB, 1)])
    finally:
        live.stop()


@pytest.mark.parametrize(
    ("server", "headers"),
    [
        pytest.param("uvicorn", {}, id="whole-file-on-uvicorn"),
        pytest.param("granian", {"Range": "bytes=0-"}, id="range-on-granian"),
    ],
)
def test_cut_off_download_records_the_bytes_really_sent(
    clean_backend: Backend,
    storage_dir: Path,
    tmp_path: Path,
    database: Engine,
    server: str,
    headers: dict[str, str],
) -> None:
    # Where the body streams through the app; a file handed to the server is not watched.
    live = start_server(clean_backend, storage_dir, tmp_path, server=server)
    try:
        size = 64 * MiB
        created = upload_big(live, b"\x01" * size)
        with httpx.stream("GET", created["download_url"], headers=headers) as response:
            received = 0
            for chunk in response.iter_raw():
                received += len(chunk)
                if received >= 2 * MiB:
                    break
        assert _wait_for(lambda: count_rows(database, "file_downloads") == 1)
    finally:
        live.stop()
    [(_status, sent, completed)] = downloads_logged(database)
    assert completed == 0
    assert 2 * MiB <= sent < size


@pytest.mark.skipif(
    not shutil.which("promtool") and os.environ.get("CI") != "true",
    reason="promtool (Debian package prometheus) is not installed",
)
def test_metrics_add_up_across_worker_processes(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path
) -> None:
    live = start_server(clean_backend, storage_dir, tmp_path, workers=2)
    try:
        with httpx.Client(base_url=live.url) as http:
            # New connections spread over both workers.
            for i in range(20):
                http.post(
                    "/upload", files={"file": (f"{i}.txt", b"x")}, headers={"Connection": "close"}
                )
            exposition = http.get("/metrics").text
    finally:
        live.stop()
    assert sample(exposition, "filewallball_uploads_total", outcome="success") == 20
    check = subprocess.run(
        ["promtool", "check", "metrics"],
        input=exposition.encode(),
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


@local_storage_only("it sees uploads writing by their open temporaries")
def test_uploads_in_flight_do_not_hold_database_connections(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path, database: Engine
) -> None:
    server = start_server(clean_backend, storage_dir, tmp_path, FWB_MAX_UPLOADS_PER_CLIENT="40")
    host, port = server.url.removeprefix("http://").split(":")
    head = b'--xx\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\n\r\n'
    sockets = []
    try:
        # More unfinished uploads than the database pool has connections.
        for _ in range(40):
            sock = socket.create_connection((host, int(port)))
            sock.sendall(
                b"POST /upload HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: multipart/form-data; boundary=xx\r\n"
                b"Content-Length: 100000000\r\n\r\n" + head + b"a" * (MiB + 1)
            )
            sockets.append(sock)
        assert _wait_for(lambda: open_temporaries(server) == 40, timeout=60)  # all 40 writing
        health = httpx.get(f"{server.url}/health", timeout=10)
        listing = httpx.get(f"{server.url}/files", timeout=10)
        assert health.status_code == 200, health.text
        assert listing.status_code == 200
        for sock in sockets:
            sock.close()
        assert _wait_for(
            lambda: (
                count_rows(
                    database,
                    "file_uploads",
                    "upload_status = 'failed' AND error_reason <> 'bad_request'",
                )
                == 40
            )
        )
        assert on_storage(server.settings, blob_keys) == []
        assert on_storage(server.settings, partial_writes_left) == 0
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


def test_a_thumbnail_survives_its_worker_being_killed(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path, database: Engine
) -> None:
    from io import BytesIO

    from PIL import Image
    from sqlalchemy import text

    # Big enough that decoding takes a moment: the kill lands while the job runs.
    image = Image.linear_gradient("L").resize((6000, 6000))
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    lease = {"FWB_JOB_LEASE_SECONDS": "2", "FWB_JOB_POLL_SECONDS": "0.5"}
    first = start_server(clean_backend, storage_dir, tmp_path, **lease)
    created = httpx.post(
        f"{first.url}/upload", files={"file": ("big.png", buffer.getvalue())}, timeout=60
    ).json()

    def thumbnail_job_state() -> str | None:
        with database.connect() as connection:
            state: str | None = connection.execute(
                text("SELECT state FROM jobs WHERE kind = 'thumbnail'")
            ).scalar_one_or_none()
        return state

    assert _wait_for(lambda: thumbnail_job_state() == "running", timeout=30)
    root = psutil.Process(first.process.pid)
    for process in [*root.children(recursive=True), root]:
        process.kill()  # kill -9: no clean-up of any kind
    first.process.wait(timeout=10)
    assert thumbnail_job_state() == "running"  # cut off mid-job
    second = start_server(clean_backend, storage_dir, tmp_path, **lease)
    try:
        assert _wait_for(
            lambda: (
                httpx.get(created["info_url"].replace(first.url, second.url)).json()[
                    "thumbnail_status"
                ]
                == "ready"
            ),
            timeout=60,
        )
        thumb = httpx.get(f"{second.url}/thumbnails/{created['file_id']}")
        assert thumb.status_code == 200
        assert thumb.headers["content-type"] == "image/webp"
    finally:
        second.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_server_whose_app_cannot_start_ends_with_status_1(
    clean_backend: Backend, tmp_path: Path, workers: int
) -> None:
    (tmp_path / "a-file").touch()
    environment = {
        **os.environ,
        "FWB_DATABASE_URL": clean_backend.database_url,
        "FWB_STORAGE": "local",  # in the run on S3 too: a folder it cannot make
        "FWB_STORAGE_DIR": str(tmp_path / "a-file" / "files"),
        "FWB_AUTO_MIGRATE": "false",
        "FWB_LOG_JSON": "true",
    }
    command = [sys.executable, "-m", "filewallball", "serve", "--port", str(free_port())]
    run = subprocess.run(
        [*command, "--workers", str(workers)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )

    # For the service manager to see, and to start it again; every line still JSON.
    assert run.returncode == 1, run.stdout + run.stderr
    lines = [json.loads(line) for line in (run.stdout + run.stderr).splitlines() if line]
    assert any(line["event"] == "ASGI lifespan startup failed" for line in lines)


def test_a_request_that_outlasts_the_drain_is_cut_off_and_the_server_stops(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path, database: Engine
) -> None:
    server = start_server(
        clean_backend, storage_dir, tmp_path, FWB_DRAIN_SECONDS="1", FWB_LOG_JSON="true"
    )
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(  # half an upload, and then nothing
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
            b"Content-Type: multipart/form-data; boundary=xx\r\n\r\n--xx\r\n"
            b'Content-Disposition: form-data; name="file"; filename="slow.bin"\r\n\r\n'
            + b"x"
            * 1000
        )
        time.sleep(0.5)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        status = server.process.wait(timeout=30)
    assert time.monotonic() - started < 10  # the drain's second, not the client's pace
    assert status == 0  # asked to stop, and stopped
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line]
    assert any(line["event"] == "drain_timed_out" for line in lines)
    with database.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM files")).scalar() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_run_with_the_allocator_tuned_for_many_uploads_unless_told_otherwise(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path, workers: int
) -> None:
    server = start_server(
        clean_backend, storage_dir, tmp_path, workers=workers, MALLOC_ARENA_MAX="4"
    )
    try:
        root = psutil.Process(server.process.pid)
        # One worker runs in the serving process itself; several are its children.
        serving = [root, *root.children(recursive=True)]
        environments = [process.environ() for process in serving]
    finally:
        server.stop()
    assert len(serving) == (1 if workers == 1 else 1 + workers)
    for environment in environments:
        assert environment["MALLOC_MMAP_THRESHOLD_"] == str(128 * 1024)
        assert environment["_RJEM_MALLOC_CONF"] == f"oversize_threshold:{400 * 1024}"
        assert environment["MALLOC_ARENA_MAX"] == "4"  # the operator's own value wins


def test_a_second_stop_signal_ends_a_draining_server_at_once(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path
) -> None:
    server = start_server(clean_backend, storage_dir, tmp_path, FWB_LOG_JSON="true")
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(  # half an upload, and then nothing: the drain would wait 25 s for it
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
            b"Content-Type: multipart/form-data; boundary=xx\r\n\r\n--xx\r\n"
            b'Content-Disposition: form-data; name="file"; filename="slow.bin"\r\n\r\n'
            + b"x"
            * 1000
        )
        time.sleep(0.5)
        server.process.send_signal(signal.SIGINT)
        time.sleep(1)
        assert server.process.poll() is None  # still draining, as asked the first time
        started = time.monotonic()
        server.process.send_signal(signal.SIGINT)
        status = server.process.wait(timeout=10)
    assert time.monotonic() - started < 5
    assert status == 1  # stopped, but not cleanly
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line]
    assert any(line["event"] == "stop_forced" for line in lines)
