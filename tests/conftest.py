"""Fixtures: every test runs on SQLite, and again on MariaDB + Redis when
FWB_TEST_DATABASE_URL and FWB_TEST_REDIS_URL name them (CI sets both and requires them)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI
from redis import Redis
from sqlalchemy import URL, Engine, create_engine, make_url, text

from filewallball import migrations
from filewallball.access import keys
from filewallball.access.roles import Role
from filewallball.app import create_app
from filewallball.settings import Settings
from filewallball.storage import Storage, create_storage

IN_CI = os.environ.get("CI", "").lower() == "true"


def _for_this_worker(variable: str, own: Callable[[URL, int], URL]) -> str | None:
    """The test service a variable names, made this process's own when pytest-xdist runs the
    suite in several processes: each cleans its tables and flushes its Redis between tests."""
    value = os.environ.get(variable)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, …
    if value and worker.startswith("gw"):
        value = own(make_url(value), int(worker[2:])).render_as_string(hide_password=False)
        os.environ[variable] = value  # for the modules that read it themselves
    return value


def _redis_db_of_worker(url: URL, worker: int) -> URL:
    # Counting down from the db given, never to db 0: that is where a developer's own data is.
    db = int(url.database or 0) - worker
    if db < 1:
        raise pytest.UsageError(
            f"pytest-xdist worker {worker} would flush Redis db {db}: give FWB_TEST_REDIS_URL "
            "a db number above the number of workers (make test uses 15)"
        )
    return url.set(database=str(db))


# Worker N: database `<name>_wN`, and Redis db `<db> - N`.
MARIADB_URL = _for_this_worker(
    "FWB_TEST_DATABASE_URL", lambda url, n: url.set(database=f"{url.database}_w{n}")
)
REDIS_URL = _for_this_worker("FWB_TEST_REDIS_URL", _redis_db_of_worker)
# The suite runs on local storage; FWB_TEST_STORAGE=s3 runs it again on the S3 server below,
# and FWB_TEST_BACKENDS=sqlite keeps that second run to one database.
STORAGE = os.environ.get("FWB_TEST_STORAGE", "local")
BACKENDS = os.environ.get("FWB_TEST_BACKENDS", "sqlite,mariadb").split(",")


def local_storage_only(why: str) -> pytest.MarkDecorator:
    """For a test about what only local storage has: files, folders, the kernel's sendfile."""
    return pytest.mark.skipif(STORAGE != "local", reason=f"local storage only: {why}")


T = TypeVar("T")
# Tables that tests fill; the seeded catalogue (categories, extensions) stays.
DATA_TABLES = (
    "blobs",
    "resumable_chunks",
    "resumable_uploads",
    "jobs",
    "audit_logs",
    "file_tag_relations",
    "file_views",
    "file_downloads",
    "file_uploads",
    "files",
    "file_tags",
    "system_settings",
    "api_keys",
    "daily_activity",
    "daily_upload_errors",
    "client_activity",
)


@dataclass(frozen=True)
class Backend:
    """Where a test's metadata and cache live."""

    name: str
    database_url: str
    redis_url: str | None


def _sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "").replace("+asyncmy", "+pymysql")


@pytest.fixture(scope="session")
def anyio_backend() -> tuple[str, dict[str, bool]]:
    return "asyncio", {"use_uvloop": True}  # the loop the service runs on


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "filewallball.db"
        chosen = Backend("sqlite", f"sqlite+aiosqlite:///{path}", None)
    else:
        if not (MARIADB_URL and REDIS_URL):
            reason = "FWB_TEST_DATABASE_URL and FWB_TEST_REDIS_URL are not set"
            if IN_CI:
                pytest.fail(f"CI must run on MariaDB + Redis: {reason}")
            pytest.skip(reason)
        chosen = Backend("mariadb", MARIADB_URL, REDIS_URL)
        create_database(MARIADB_URL)
    settings = Settings(database_url=chosen.database_url)
    # Start from an empty schema every session: this also proves the downgrade path.
    migrations.downgrade(settings, "base")
    migrations.upgrade(settings)
    return Backend(chosen.name, settings.database_url, chosen.redis_url)


def create_database(url: str) -> None:
    """The test database on its MariaDB, created when missing (each test worker has its own)."""
    server = make_url(_sync_url(Settings(database_url=url).database_url))
    admin = create_engine(server.set(database="mysql"))  # a database every server has
    with admin.begin() as connection:
        connection.execute(
            text(
                f"CREATE DATABASE IF NOT EXISTS {server.database} "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        )
    admin.dispose()


@pytest.fixture(scope="session")
def database(backend: Backend) -> Iterator[Engine]:
    """A plain synchronous engine on the test database, for looking at what was stored."""
    # SQLite: wait for the app's writers as long as the app itself does (busy_timeout 30 s).
    connect_args = {"timeout": 30} if backend.name == "sqlite" else {}
    engine = create_engine(_sync_url(backend.database_url), connect_args=connect_args)
    yield engine
    engine.dispose()


@pytest.fixture
def clean_backend(backend: Backend, database: Engine) -> Backend:
    with database.begin() as connection:
        connection.execute(text("UPDATE api_keys SET created_by = NULL"))  # MariaDB checks per row
        for table in DATA_TABLES:
            connection.execute(text(f"DELETE FROM {table}"))
    if backend.redis_url:
        with Redis.from_url(backend.redis_url) as redis:
            redis.flushdb()
    return backend


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def settings(clean_backend: Backend, storage_dir: Path) -> Settings:
    return Settings(
        database_url=clean_backend.database_url,
        redis_url=clean_backend.redis_url,
        storage_dir=storage_dir,
        base_url=None,
        log_json=True,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def paused(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app whose background jobs run only when the test says so
    (`await paused.state.fwb.jobs.run_until_idle()`)."""
    application = create_app(settings.model_copy(update={"job_concurrency": 0}))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(paused: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the `paused` app."""
    transport = httpx.ASGITransport(app=paused)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client_for(app: FastAPI) -> AsyncIterator[ClientFor]:
    """`await client_for(Role.viewer)`: a client holding a fresh key of that role
    (`None`: anonymous), optionally from another address."""
    opened: list[httpx.AsyncClient] = []

    async def make(role: Role | None, ip: str = "203.0.113.7") -> httpx.AsyncClient:
        headers = {}
        if role is not None:
            async with app.state.fwb.sessions() as session:
                issued = await keys.issue(session, f"test-{role}", role)
                await session.commit()
            headers["Authorization"] = f"Bearer {issued.secret}"
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()


@pytest.fixture
def storage(app: FastAPI) -> Storage:
    """The app's own storage, to look at blobs as the app sees them."""
    backend: Storage = app.state.fwb.storage
    return backend


async def activity_written(app: FastAPI) -> None:
    """Write the views and downloads the app still holds, as it does on its own every
    FWB_ACTIVITY_FLUSH_SECONDS: counts read afterwards are exact, with no sleeping."""
    await app.state.fwb.activity.flush()


async def blob_keys(storage: Storage) -> list[str]:
    """Keys of every committed blob, as the storage lists them."""
    return sorted([info.key async for info in storage.list()])


async def partial_writes_left(storage: Storage) -> int:
    """How many writes were begun and neither committed nor aborted. Removes them while
    counting, so call it once nothing should be in flight, and expect 0."""
    return await storage.remove_incomplete(datetime.now(UTC) + timedelta(days=1))


def on_storage(settings: Settings, look: Callable[[Storage], Awaitable[T]]) -> T:
    """`look` at a storage built from `settings`: for a server running in its own processes,
    whose storage a test cannot reach through an app."""

    async def run() -> T:
        storage = create_storage(settings)
        await storage.open()
        try:
            return await look(storage)
        finally:
            await storage.close()

    return asyncio.run(run())


async def change(database: Engine, *statements: str) -> None:
    """Change the test database as an operator would, from another thread. Run on the event
    loop, a blocking write would wait for a lock that the app, stopped with the loop, holds."""

    def run() -> None:
        with database.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))

    await anyio.to_thread.run_sync(run)


def count_rows(database: Engine, table: str, where: str = "1=1") -> int:
    with database.connect() as connection:
        return int(
            connection.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {where}")).scalar_one()
        )


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


S3_BUCKET = "filewallball-test"


@pytest.fixture(autouse=True)
def _storage_chosen_by_the_run(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Under FWB_TEST_STORAGE=s3 every app, and every server a test starts, stores its blobs
    in a folder of the test bucket of its own test."""
    if STORAGE != "s3":
        return
    monkeypatch = request.getfixturevalue("monkeypatch")
    for name, value in {
        "FWB_STORAGE": "s3",
        "FWB_S3_BUCKET": S3_BUCKET,
        "FWB_S3_ENDPOINT_URL": request.getfixturevalue("s3_endpoint"),
        "FWB_S3_REGION": "us-east-1",
        "FWB_S3_PREFIX": f"api/{tmp_path.name}",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 endpoint over HTTP on 127.0.0.1 (moto's server mode), holding S3_BUCKET."""
    import boto3  # the tests' own S3 client, to look at what the app stored

    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}.items():
        os.environ[name] = value
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    deadline = time.monotonic() + 60
    while True:
        try:
            client.create_bucket(Bucket=S3_BUCKET)
            break
        except Exception:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("the S3 server (moto) did not start")
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=20)


# The industry's harmless test file: every scanner must call it a virus.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A clamd on a unix socket, knowing only the EICAR signature (no downloads here)."""
    if not Path(CLAMD).exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must test malware scanning: clamd (clamav-daemon) is missing")
        pytest.skip("clamd (Debian package clamav-daemon) is not installed")
    root = tmp_path_factory.mktemp("clamd")
    (root / "db").mkdir()
    (root / "db" / "test.ndb").write_text(f"Eicar-Test-Signature:0:*:{EICAR.hex()}\n")
    socket_path = root / "clamd.sock"
    config = root / "clamd.conf"
    config.write_text(
        f"Foreground yes\nLocalSocket {socket_path}\nDatabaseDirectory {root / 'db'}\n"
        f"LogFile {root / 'clamd.log'}\nStreamMaxLength 512M\nBytecode no\n"
    )
    process = subprocess.Popen(
        [CLAMD, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not socket_path.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("clamd did not start: " + (root / "clamd.log").read_text())
        time.sleep(0.1)
    yield str(socket_path)
    process.terminate()
    process.wait(timeout=20)


def issue_key(database_url: str, role: str, name: str = "test") -> str:
    """A new API key from the operator's command, as an admin hands one out."""
    created = subprocess.run(
        [sys.executable, "-m", "filewallball", "keys", "create", "--name", name, "--role", role],
        env={**os.environ, "FWB_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return next(line.split()[-1] for line in created.stdout.splitlines() if line.startswith("key:"))


async def run_cli(
    settings: Settings, *arguments: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The `filewallball` command, as an operator runs it on the instance of `settings`; the
    event loop, and the app on it, keep running meanwhile."""
    instance = {
        "FWB_DATABASE_URL": settings.database_url,
        "FWB_STORAGE_DIR": str(settings.storage_dir),
        "FWB_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "filewallball", *arguments]
    run = partial(
        subprocess.run,
        command,
        env={**os.environ, **instance, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return await anyio.to_thread.run_sync(run)


async def record_backup_time(database: Engine, when: str = "2026-11-30T02:30:00+00:00") -> None:
    """As `filewallball backup` notes its success (a row of system_settings)."""
    await change(
        database,
        "INSERT INTO system_settings (setting_key, setting_value, setting_type, is_public, "
        f"created_at, updated_at) VALUES ('last_backup_at', '{when}', 'datetime', 0, "
        "'2026-11-30 02:30:00', '2026-11-30 02:30:00')",
    )
