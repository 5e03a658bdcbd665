"""A Redis that hangs instead of refusing, or comes back empty after a restart: requests go on
without it within a moment, and job wake-ups come back by themselves."""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from PIL import Image
from redis import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from filewallball._redis import PAUSE_SECONDS, SharedConnection
from filewallball.app import create_app
from filewallball.cache.redis import RedisCache
from filewallball.jobs.wakeup import GROUP, STREAM, RedisWakeup
from filewallball.settings import Settings
from tests.conftest import free_port

pytestmark = pytest.mark.anyio
# Generous: an answer later than this can only be a hang on Redis.
HANG_SECONDS = 10.0


@dataclass
class RedisServer:
    """A redis-server of this test's own, without persistence: a restart comes back empty."""

    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with Redis(port=self.port, socket_timeout=1) as redis:
                    redis.ping()
                    return
            except RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def freeze(self) -> None:
        """Hangs every command: what a stalled host or a black-holed network looks like."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def has_consumer_group(self) -> bool:
        try:
            with Redis(port=self.port, socket_timeout=1) as redis:
                groups: list[dict[str, Any]] = redis.xinfo_groups(STREAM)
        except RedisError:
            return False
        return any(group["name"] == GROUP.encode() for group in groups)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


async def thumbnail_made(http: httpx.AsyncClient, info_url: str, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (await http.get(info_url)).json()["thumbnail_status"] == "ready":
            return True
        await asyncio.sleep(0.05)
    return False


async def wait_for(condition: Any, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_frozen_redis_holds_up_nothing_and_a_restarted_one_wakes_jobs_again(
    settings: Settings, redis_server: RedisServer
) -> None:
    # Workers look for jobs once a minute: only a wake-up explains a thumbnail within seconds.
    app = create_app(
        settings.model_copy(
            update={"redis_url": redis_server.url, "job_poll_seconds": 60, "job_concurrency": 1}
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
    ):
        before = (await http.post("/upload", files={"file": ("before.png", png())})).json()
        assert await thumbnail_made(http, before["info_url"], within=10)

        redis_server.freeze()
        async with asyncio.timeout(HANG_SECONDS):
            created = await http.post("/upload", files={"file": ("frozen.txt", b"still here")})
            info = await http.get(created.json()["info_url"])
            listing = await http.get("/files")
            health = await http.get("/health")
            deleted = await http.delete(
                created.json()["info_url"],
                headers={"X-Delete-Token": created.json()["delete_token"]},
            )
        assert created.status_code == 201
        assert info.json()["filename"] == "frozen.txt"
        assert listing.json()["total"] == 2
        assert health.status_code == 200
        assert health.json()["services"]["cache"] == "degraded"
        # The shared cache is needed to delete safely: refused at once, not hung.
        assert deleted.status_code == 503
        assert deleted.headers["content-type"] == "application/problem+json"

        # Back, but empty: the stream and its consumer group are gone.
        redis_server.stop()
        redis_server.start()
        assert await wait_for(redis_server.has_consumer_group, within=HANG_SECONDS)
        # Connections to the old process are dead; the first request finds a new one.
        assert (await http.get("/health")).json()["status"] == "healthy"
        # For a pause after its last failure a wake-up is not even tried (the scan would find
        # the job): past it, wake-ups are sent again.
        await asyncio.sleep(PAUSE_SECONDS)
        after = (await http.post("/upload", files={"file": ("after.png", png())})).json()
        assert await thumbnail_made(http, after["info_url"], within=10)


async def test_a_job_notified_while_a_worker_starts_wakes_it(redis_server: RedisServer) -> None:
    # A new worker, on a Redis that has never seen one, hears of the job queued between its
    # start and its first wait: in the stream before the group began, it was never handed out.
    worker, uploader = (RedisWakeup(redis_server.url, name) for name in ("worker", "uploader"))
    try:
        await worker.open()
        await uploader.notify()
        async with asyncio.timeout(10):
            await worker.wait(60)  # woken, not timed out
    finally:
        await worker.close()
        await uploader.close()


async def test_the_first_command_after_a_restart_finds_a_new_connection(
    redis_server: RedisServer,
) -> None:
    cache = RedisCache(redis_server.url, ttl=60)
    try:
        await cache.set("k", b"before")
        redis_server.stop()  # the pooled connection dies with the process
        redis_server.start()
        await cache.set("k", b"after")
        assert await cache.get("k") == b"after"
    finally:
        await cache.close()


async def test_commands_sent_at_once_on_the_shared_connection_each_get_their_own_reply(
    redis_server: RedisServer,
) -> None:
    shared = SharedConnection(redis_server.url)
    try:

        async def write_then_read(n: int) -> bytes:
            await shared.call("SET", f"k{n}", f"value {n}")
            return bytes(await shared.call("GET", f"k{n}"))

        replies = await asyncio.gather(*(write_then_read(n) for n in range(500)))
        assert replies == [f"value {n}".encode() for n in range(500)]
    finally:
        await shared.aclose()


async def test_commands_asked_for_at_once_reach_redis_in_one_write(
    redis_server: RedisServer,
) -> None:
    # A write to a socket costs a system call and, on loopback, Redis's own work of reading it:
    # two hundred requests asking at once pay for one.
    shared = SharedConnection(redis_server.url)
    try:
        await shared.call("SET", "k", "v")
        before = reads_processed(redis_server)
        replies = await asyncio.gather(*(shared.call("GET", "k") for _ in range(200)))
        assert replies == [b"v"] * 200
        # Two hundred writes took Redis over a hundred reads; one write a single read, and
        # asking for the count a few more of its own.
        assert reads_processed(redis_server) - before <= 10
    finally:
        await shared.aclose()


def reads_processed(server: RedisServer) -> int:
    """How many times Redis has read from its clients' sockets, this question's included."""
    with Redis(port=server.port, socket_timeout=1) as redis:
        return int(redis.info("stats")["total_reads_processed"])


async def test_the_shared_connection_logs_in_and_uses_the_database_its_url_names(
    redis_server: RedisServer,
) -> None:
    with Redis(port=redis_server.port) as admin:
        admin.config_set("requirepass", "s3cret")
    shared = SharedConnection(f"redis://:s3cret@127.0.0.1:{redis_server.port}/3")
    try:
        await shared.call("SET", "k", "in three")
    finally:
        await shared.aclose()
    with Redis(port=redis_server.port, password="s3cret", db=3) as three:
        assert three.get("k") == b"in three"
    with Redis(port=redis_server.port, password="s3cret", db=0) as zero:
        assert zero.get("k") is None


async def test_a_script_redis_has_forgotten_still_runs(redis_server: RedisServer) -> None:
    shared = SharedConnection(redis_server.url)
    try:
        assert await shared.script("return ARGV[1]", [], ["first"]) == b"first"
        await shared.call("SCRIPT", "FLUSH")  # as a restart does
        assert await shared.script("return ARGV[1]", [], ["again"]) == b"again"
    finally:
        await shared.aclose()


async def test_a_frozen_redis_fails_every_waiting_command_in_time_then_a_new_connection_serves(
    redis_server: RedisServer,
) -> None:
    shared = SharedConnection(redis_server.url, timeout=0.2)
    try:
        assert await shared.call("PING") == b"PONG"
        redis_server.freeze()
        started = time.monotonic()
        waiting = await asyncio.gather(
            *(shared.call("GET", f"k{n}") for n in range(3)), return_exceptions=True
        )
        assert all(isinstance(outcome, RedisTimeout) for outcome in waiting), waiting
        assert time.monotonic() - started < 1.0
        redis_server.thaw()
        # The frozen connection's late replies are never taken for these.
        await shared.call("SET", "after", "thawed")
        assert await shared.call("GET", "after") == b"thawed"
    finally:
        await shared.aclose()


async def test_the_shared_connection_speaks_tls_and_trusts_only_the_ca_it_is_given(
    tmp_path: Path,
) -> None:
    authority = trustme.CA()
    authority.cert_pem.write_to_path(tmp_path / "ca.pem")
    issued = authority.issue_cert("127.0.0.1")
    issued.private_key_and_cert_chain_pem.write_to_path(tmp_path / "server.pem")
    port = free_port()
    server = subprocess.Popen(
        [
            *("redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"),
            *("--tls-cert-file", str(tmp_path / "server.pem")),
            *("--tls-key-file", str(tmp_path / "server.pem")),
            *("--tls-auth-clients", "no", "--save", "", "--dir", str(tmp_path)),
        ],
        stdout=subprocess.DEVNULL,
    )
    trusting = SharedConnection(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tmp_path}/ca.pem")
    stranger = SharedConnection(f"rediss://127.0.0.1:{port}/0")
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                assert await trusting.call("PING") == b"PONG"
                break
            except RedisError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        with pytest.raises(RedisError, match="certificate verify failed"):
            await stranger.call("PING")
    finally:
        await trusting.aclose()
        await stranger.aclose()
        server.kill()
        server.wait(timeout=10)


def _clients(server: RedisServer) -> int:
    """Connections to the server, besides the one asking."""
    with Redis(port=server.port) as admin:
        return len(admin.client_list()) - 1


async def test_a_connection_begun_for_a_request_that_gave_up_is_kept_then_closed(
    redis_server: RedisServer,
) -> None:
    shared = SharedConnection(redis_server.url)
    given_up = asyncio.create_task(shared.call("PING"))
    await asyncio.sleep(0)  # it has begun to connect
    given_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await given_up
    assert await wait_for(lambda: _clients(redis_server) == 1, within=HANG_SECONDS)
    await shared.aclose()  # the connection nobody waited for is closed too
    assert await wait_for(lambda: _clients(redis_server) == 0, within=HANG_SECONDS)
