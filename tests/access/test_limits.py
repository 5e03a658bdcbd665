"""Rate limits, upload caps and slow bodies: no client can starve the others."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from filewallball.access import keys
from filewallball.access.roles import Role
from filewallball.app import create_app
from filewallball.settings import Settings, SettingsError, load_settings
from tests.access.conftest import capturing_app_log
from tests.conftest import Backend, ClientFor, blob_keys, partial_writes_left

pytestmark = pytest.mark.anyio


async def test_over_the_limit_is_429_with_retry_after(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(
            update={"rate_limit_uploads": "2/minute", "rate_limit_reads": "3/minute"}
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            uploads = [
                await http.post("/upload", files={"file": ("a.txt", b"x")}) for _ in range(3)
            ]
            reads = [await http.get("/files") for _ in range(4)]
            probes = [await http.get("/health/live") for _ in range(5)]
    assert [r.status_code for r in uploads] == [201, 201, 429]
    assert [r.status_code for r in reads] == [200, 200, 200, 429]  # a class of its own
    assert {r.status_code for r in probes} == {200}  # probes are never limited
    refused = uploads[2]
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-limit"] == "2"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert uploads[0].headers["ratelimit-remaining"] == "1"


@pytest.mark.parametrize("value", ["10/second;100/minute", "60 per minute", "5/2 minutes"])
def test_rate_limits_take_the_limits_notation(value: str) -> None:
    assert load_settings(rate_limit_reads=value).rate_limit_reads == value


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("abc", "is not a rate limit"),
        ("10/fortnight", "is not a rate limit"),
        ("", "is not a rate limit"),
        ("10/second;often", "is not a rate limit"),
        ("0/minute", "would refuse every request"),
    ],
)
def test_a_rate_limit_that_limits_cannot_read_stops_start_up(value: str, complaint: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(rate_limit_uploads=value)
    message = str(refused.value)
    assert message.startswith("FWB_RATE_LIMIT_UPLOADS: ")
    assert complaint in message
    assert "\n" not in message


# Written either way round: a request the second's limit refuses is never charged to the
# minute's.
@pytest.mark.parametrize("limits", ["2/second;3/minute", "3/minute;2/second"])
async def test_every_limit_of_a_class_holds(settings: Settings, limits: str) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_reads": limits}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.18", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            burst = [await http.get("/files") for _ in range(3)]
            await asyncio.sleep(1.1)
            later = [await http.get("/files") for _ in range(2)]
    assert [r.status_code for r in burst] == [200, 200, 429]
    assert burst[2].headers["ratelimit-limit"] == "2"  # refused by the second's limit ...
    assert [r.status_code for r in later] == [200, 429]
    assert later[1].headers["ratelimit-limit"] == "3"  # ... and then by the minute's


async def test_a_client_guessing_keys_runs_into_the_limit(
    settings: Settings, client_for: ClientFor
) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_reads": "3/minute"}))
    guess = {"Authorization": "Bearer fwb_0123456789ab_" + "B" * 43}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.30", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            guesses = [(await http.get("/files", headers=guess)).status_code for _ in range(4)]
            # The address's budget is spent: asking without a key is refused as well.
            anonymous = await http.get("/files")
        transport = httpx.ASGITransport(app=app, client=("192.0.2.31", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            # Probes are never limited, but a failed authentication on one counts.
            on_probe = [
                (await http.get("/health/live", headers=guess)).status_code for _ in range(4)
            ]
    assert guesses == [401, 401, 401, 429]
    assert anonymous.status_code == 429
    assert on_probe == [401, 401, 401, 429]
    admin = await client_for(Role.admin)
    hits = (await admin.get("/admin/audit", params={"action": "rate_limited"})).json()
    assert {item["client_ip"] for item in hits["items"]} == {"192.0.2.30", "192.0.2.31"}


@pytest.mark.parametrize(
    "path", ["/healthXYZ", "/health/live/x", "/metricsfoo", "/metrics/%2E%2E/files", "/docs/x"]
)
async def test_open_paths_are_matched_whole(settings: Settings, path: str) -> None:
    app = create_app(settings.model_copy(update={"anonymous_role": "none"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            lookalike = await http.get(path)
            probe = await http.get("/health/live")
    assert lookalike.status_code == 401
    assert probe.status_code == 200


async def test_only_probes_go_uncounted(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_reads": "2/minute"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.32", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            probes = [(await http.get("/metrics")).status_code for _ in range(4)]
            lookalikes = [(await http.get("/healthXYZ")).status_code for _ in range(3)]
    assert probes == [200, 200, 200, 200]
    assert lookalikes == [404, 404, 429]


async def test_each_key_has_its_own_budget(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_reads": "2/minute"}))
    async with app.router.lifespan_context(app):
        secrets = []
        async with app.state.fwb.sessions() as session:
            for name in ("one", "two"):
                secrets.append((await keys.issue(session, name, Role.viewer)).secret)
            await session.commit()
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            statuses = [
                (await http.get("/files", headers={"Authorization": f"Bearer {s}"})).status_code
                for s in secrets
                for _ in range(3)
            ]
    assert statuses == [200, 200, 429, 200, 200, 429]


async def test_limit_counters_always_expire(settings: Settings) -> None:
    if settings.redis_url is None:
        pytest.skip("counters live in Redis only with FWB_REDIS_URL")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.11", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await http.get("/files")
            await http.post("/upload", files={"file": ("a.txt", b"x")})
    with Redis.from_url(settings.redis_url) as redis:
        counters = list(redis.scan_iter("fwb-limits*"))
        assert counters
        assert all(redis.ttl(key) > 0 for key in counters)


async def test_limiter_outage_fails_open_for_reads_and_closed_for_writes_if_asked(
    settings: Settings,
) -> None:
    broken = settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:1/0", "rate_limit_fail_closed": True}
    )
    app = create_app(broken)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.12", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            read = await http.get("/files")
            write = await http.post("/upload", files={"file": ("a.txt", b"x")})
            unknown = "fwb_0123456789ab_" + "A" * 43  # well formed: it reaches the database
            bad_key = await http.get("/files", headers={"Authorization": f"Bearer {unknown}"})
    assert read.status_code == 200
    assert write.status_code == 503
    assert bad_key.status_code == 401  # an outage never bypasses authentication


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: a real server that cannot be reached."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_limiter_outage_fails_open_by_default_and_is_logged(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{closed_port()}/0"})
    )
    with capturing_app_log() as app_log:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("192.0.2.16", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                write = await http.post("/upload", files={"file": ("a.txt", b"x")})
                read = await http.get("/files")
    assert write.status_code == 201
    assert read.status_code == 200
    assert "ratelimit-limit" not in write.headers  # nothing was counted
    assert len(app_log.events("rate_limiter_unavailable")) == 2
    # A fallback, not a fault of ours: a warning, never an error.
    assert app_log.events("rate_limiter_unavailable")[0]["level"] == "warning"


async def test_admin_requests_have_a_budget_of_their_own(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"rate_limit_admin": "2/minute", "rate_limit_reads": "5/hour"})
    )
    async with app.router.lifespan_context(app):
        async with app.state.fwb.sessions() as session:
            issued = await keys.issue(session, "ops", Role.admin)
            await session.commit()
        transport = httpx.ASGITransport(app=app, client=("192.0.2.17", 1))
        headers = {"Authorization": f"Bearer {issued.secret}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as http:
            admin = [await http.get("/admin/keys") for _ in range(3)]
            read = await http.get("/files")
    assert [r.status_code for r in admin] == [200, 200, 429]
    assert read.status_code == 200  # reads are counted apart
    assert [r.headers["ratelimit-limit"] for r in admin] == ["2", "2", "2"]
    assert read.headers["ratelimit-limit"] == "5"
    assert 0 < int(admin[0].headers["ratelimit-reset"]) <= 60
    assert 3000 < int(read.headers["ratelimit-reset"]) <= 3600  # the window is an hour
    refused = admin[2]
    assert refused.headers["retry-after"] == refused.headers["ratelimit-reset"]


async def _slow_body(release: asyncio.Event, started: asyncio.Event) -> AsyncIterator[bytes]:
    yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\n\r\n'
    started.set()
    await release.wait()
    yield b"data\r\n--b--\r\n"


async def test_one_client_runs_a_bounded_number_of_uploads_at_once(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_uploads_per_client": 1}))
    headers = {"content-type": "multipart/form-data; boundary=b"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.13", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            release, started = asyncio.Event(), asyncio.Event()
            slow = asyncio.create_task(
                http.post("/upload", content=_slow_body(release, started), headers=headers)
            )
            await started.wait()
            second = await http.post("/upload", files={"file": ("a.txt", b"x")})
            other_transport = httpx.ASGITransport(app=app, client=("192.0.2.14", 1))
            async with httpx.AsyncClient(transport=other_transport, base_url="http://t") as other:
                someone_else = await other.post("/upload", files={"file": ("b.txt", b"y")})
            release.set()
            first = await slow
    assert second.status_code == 429
    assert second.headers["retry-after"]
    assert someone_else.status_code == 201
    assert first.status_code == 201


async def test_in_flight_upload_bytes_are_capped(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_inflight_upload_bytes": 100_000}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.15", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            big = await http.post("/upload", files={"file": ("a.bin", b"x" * 200_000)})
            small = await http.post("/upload", files={"file": ("b.bin", b"x" * 1000)})
    assert big.status_code == 503
    assert big.headers["retry-after"] == "5"
    assert small.status_code == 201


async def test_a_body_that_stops_arriving_times_out(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"upload_idle_timeout": 0.3}))
    resumed = False

    async def stalled() -> AsyncIterator[bytes]:
        nonlocal resumed
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n\r\n'
        # Far beyond the idle timeout: a server that waits it out has hung, not timed out.
        await asyncio.sleep(30)
        resumed = True
        yield b"late\r\n--b--\r\n"

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.post(
                "/upload",
                content=stalled(),
                headers={"content-type": "multipart/form-data; boundary=b"},
            )
        stored = await blob_keys(app.state.fwb.storage)
        partial = await partial_writes_left(app.state.fwb.storage)
    assert response.status_code == 408
    assert not resumed, "the refusal came only after the body arrived after all"
    assert stored == []
    assert partial == 0


@pytest.mark.server
def test_two_replicas_share_one_limit_through_redis(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path
) -> None:
    if clean_backend.redis_url is None:
        pytest.skip("replicas share limits through Redis")
    from tests.test_server import start_server

    env: dict[str, Any] = {"FWB_RATE_LIMIT_ENABLED": "true", "FWB_RATE_LIMIT_UPLOADS": "4/minute"}
    one = start_server(clean_backend, storage_dir, tmp_path, **env)
    two = start_server(clean_backend, storage_dir, tmp_path, **env)
    try:
        statuses = [
            httpx.post(
                f"{server.url}/upload", files={"file": ("a.txt", os.urandom(10))}
            ).status_code
            for server in (one, two, one, two, one, two)
        ]
    finally:
        for server in (one, two):
            server.stop()
    assert statuses == [201, 201, 201, 201, 429, 429]
