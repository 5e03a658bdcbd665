"""Replicas act as one service: three server processes on three ports, against one MariaDB, one
Redis and one storage (a folder, or an S3 bucket), behave as a single server would.

Every request comes through a trusted proxy that names the client (X-Forwarded-For), so that
each part below has clients of its own."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from sqlalchemy import Engine, text

from filewallball.settings import Settings
from tests.conftest import S3_BUCKET, Backend, blob_keys, count_rows, issue_key, on_storage
from tests.images.test_thumbnails import jpeg
from tests.test_metrics import sample
from tests.test_server import LiveServer, start_server

pytestmark = [pytest.mark.server]
UPLOADS_PER_MINUTE = 8


@pytest.fixture(params=["local", "s3"])
def shared_storage(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "local":
        return {}
    return {
        "FWB_STORAGE": "s3",
        "FWB_S3_BUCKET": S3_BUCKET,
        "FWB_S3_ENDPOINT_URL": request.getfixturevalue("s3_endpoint"),
        "FWB_S3_REGION": "us-east-1",
        "FWB_S3_PREFIX": f"replicas/{tmp_path.name}",
    }


@pytest.fixture
def replicas(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path, shared_storage: dict[str, str]
) -> Iterator[list[LiveServer]]:
    """A, B and C. Only B runs background jobs."""
    if clean_backend.redis_url is None:
        pytest.skip("replicas act as one through MariaDB and Redis")
    env = {
        **shared_storage,
        "FWB_TRUSTED_PROXIES": "127.0.0.1/32",
        "FWB_POLICY_REFRESH_SECONDS": "0.2",
        "FWB_RATE_LIMIT_ENABLED": "true",
        "FWB_RATE_LIMIT_UPLOADS": f"{UPLOADS_PER_MINUTE}/minute",
        "FWB_MAX_UPLOADS_PER_CLIENT": "2",
        "FWB_MAX_INFLIGHT_UPLOAD_BYTES": "2500000",
    }
    started = [
        start_server(clean_backend, storage_dir, tmp_path, FWB_JOB_CONCURRENCY=jobs, **env)
        for jobs in ("0", "2", "0")
    ]
    yield started
    for server in started:
        server.stop()


def as_client(address: str, **headers: str) -> dict[str, str]:
    return {"X-Forwarded-For": address, **headers}


def upload(server: LiveServer, content: bytes, name: str = "a.txt", **headers: str) -> Any:
    return httpx.post(
        f"{server.url}/upload", files={"file": (name, content)}, headers=headers, timeout=30
    )


def listed(server: LiveServer, **headers: str) -> list[str]:
    answer = httpx.get(f"{server.url}/files", headers=headers)
    assert answer.status_code == 200, answer.text
    return [item["file_id"] for item in answer.json()["items"]]


def eventually(check: Callable[[], bool], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def held_open_upload(server: LiveServer, client: str) -> socket.socket:
    """An upload that has begun and goes on arriving for as long as the socket stays open."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    head = b'--xx\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\n\r\n'
    sock.sendall(
        b"POST /upload HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + client.encode() + b"\r\n"
        b"Content-Type: multipart/form-data; boundary=xx\r\nContent-Length: 1000000\r\n\r\n"
        + head
        + b"a" * 1000
    )
    return sock


def test_three_replicas_act_as_one_service(
    replicas: list[LiveServer], clean_backend: Backend, database: Engine
) -> None:
    a, b, c = replicas
    owner = {"Authorization": f"Bearer {issue_key(clean_backend.database_url, 'uploader')}"}
    admin = {"Authorization": f"Bearer {issue_key(clean_backend.database_url, 'admin')}"}
    successes = 0

    # An upload through A is readable through B and C at once, in their lists too, though
    # each keeps the page it just answered for a second.
    for server in (b, c):
        assert listed(server) == []
    content = os.urandom(200_000)
    created = upload(a, content, **as_client("198.51.100.1", **owner))
    assert created.status_code == 201, created.text
    successes += 1
    file = created.json()
    for server in (b, c):
        download = httpx.get(f"{server.url}/download/{file['file_id']}")
        assert download.status_code == 200
        assert hashlib.sha256(download.content).hexdigest() == file["sha256"]
        assert listed(server) == [file["file_id"]]

    # Tags and visibility changed through B hold on A and C at once.
    tagged = httpx.put(
        f"{b.url}/files/{file['file_id']}/tags", json={"tags": ["shared"]}, headers=owner
    )
    assert tagged.status_code == 200, tagged.text
    for server in (a, c):
        assert httpx.get(f"{server.url}/files/{file['file_id']}").json()["tags"] == ["shared"]
    hidden = httpx.patch(
        f"{b.url}/files/{file['file_id']}", json={"is_public": False}, headers=owner
    )
    assert hidden.status_code == 200, hidden.text
    for server in (a, c):
        assert httpx.get(f"{server.url}/files/{file['file_id']}").status_code == 404
        assert httpx.get(f"{server.url}/files/{file['file_id']}", headers=owner).status_code == 200
        assert listed(server) == [] and listed(server, **owner) == [file["file_id"]]

    # A delete through C is a 404 on A and B at once.
    gone = httpx.delete(f"{c.url}/files/{file['file_id']}", headers=owner)
    assert gone.status_code == 204
    for server in (a, b):
        assert (
            httpx.get(f"{server.url}/download/{file['file_id']}", headers=owner).status_code == 404
        )
        assert listed(server, **owner) == []

    # A network rule set through A holds on B and C (each reloads the rules within 0.2 s).
    denied = httpx.put(
        f"{a.url}/admin/settings/ip.deny", json={"value": "203.0.113.0/24"}, headers=admin
    )
    assert denied.status_code == 200, denied.text
    for server in (b, c):
        assert eventually(
            lambda s=server: (
                httpx.get(f"{s.url}/files", headers=as_client("203.0.113.9")).status_code == 403
            )
        )
        assert (
            httpx.get(f"{server.url}/files", headers=as_client("198.51.100.9")).status_code == 200
        )

    # One rate limit of uploads per minute, counted across the three together.
    statuses = [
        upload(server, b"x", **as_client("192.0.2.10")).status_code for server in [a, b, c] * 3
    ]
    assert statuses == [201] * UPLOADS_PER_MINUTE + [429]
    successes += UPLOADS_PER_MINUTE

    # Two uploads at once per client, counted across replicas.
    held = [held_open_upload(a, "192.0.2.20"), held_open_upload(b, "192.0.2.20")]
    try:
        with Redis.from_url(str(clean_backend.redis_url)) as redis:
            assert eventually(lambda: redis.zcard("fwb:uploads:client:ip:192.0.2.20") == 2)
        assert upload(c, b"x", **as_client("192.0.2.20")).status_code == 429
        assert upload(c, b"x", **as_client("192.0.2.21")).status_code == 201
        successes += 1
        # And one ceiling on the bytes all of them are bringing in: 2 MB of 2.5 are taken.
        assert _status_of(held_open_upload(c, "192.0.2.22")) == 503
    finally:
        for sock in held:
            sock.close()

    # A job queued by an upload through A runs on B, the only replica running jobs.
    image = upload(a, jpeg(64, 48), "photo.jpg", **as_client("192.0.2.30"))
    assert image.status_code == 201, image.text
    successes += 1
    image_id = image.json()["file_id"]
    assert eventually(
        lambda: httpx.get(f"{c.url}/files/{image_id}").json()["thumbnail_status"] == "ready",
        seconds=60,
    )

    # Metrics are each process's own, and add up to what the service did.
    counted = sum(
        sample(
            httpx.get(f"{server.url}/metrics").text,
            "filewallball_uploads_total",
            outcome="success",
        )
        for server in replicas
    )
    assert counted == successes
    assert count_rows(database, "files") == successes


def test_a_stopped_replica_finishes_its_upload_and_takes_no_new_work(
    clean_backend: Backend,
    storage_dir: Path,
    tmp_path: Path,
    database: Engine,
    shared_storage: dict[str, str],
) -> None:
    server = start_server(clean_backend, storage_dir, tmp_path, **shared_storage)
    settings = Settings(
        database_url=clean_backend.database_url,
        storage_dir=storage_dir,
        **{k.removeprefix("FWB_").lower(): v for k, v in shared_storage.items()},  # type: ignore[arg-type]
    )
    host, port = server.url.removeprefix("http://").split(":")
    content = os.urandom(3 * 1024 * 1024)
    body = (
        b'--xx\r\nContent-Disposition: form-data; name="file"; filename="drained.bin"\r\n\r\n'
        + content
        + b"\r\n--xx--\r\n"
    )
    sock = socket.create_connection((host, int(port)))
    try:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: multipart/form-data; boundary=xx\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
        time.sleep(0.5)  # the upload is under way
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        refused = _refused_or_not_ready(server.url)
        sock.sendall(body[len(body) // 2 :])
        answer = _read_http_response(sock)
    finally:
        sock.close()
        server.stop()
    assert refused, "a stopping server still took new work and said it was ready"
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    with database.connect() as connection:
        [(stored, sha256)] = connection.execute(
            text("SELECT storage_path, sha256 FROM files")
        ).all()
    assert sha256 == hashlib.sha256(content).hexdigest()
    assert on_storage(settings, blob_keys) == [stored]  # its blob, and no other


def _status_of(sock: socket.socket) -> int:
    """The status a server answered on `sock` before reading the body."""
    with sock:
        sock.settimeout(10)
        return int(sock.recv(64).split(b" ", 2)[1])


def _refused_or_not_ready(url: str) -> bool:
    """A stopping server closes its listener or answers readiness with 503."""
    try:
        ready = httpx.get(f"{url}/health/ready", timeout=2)
    except httpx.TransportError:
        return True
    return ready.status_code == 503


def _read_http_response(sock: socket.socket) -> bytes:
    sock.settimeout(30)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer
