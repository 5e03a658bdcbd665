"""Backup and restore, as an operator runs them: `filewallball backup` while the service runs,
`filewallball restore` into an empty instance on the other database, and the same files, byte
for byte, with the same ids, owners, keys, counts, tags and logs."""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url

from filewallball import migrations
from filewallball.access import keys
from filewallball.access.roles import Role
from filewallball.app import create_app
from filewallball.backup import tables
from filewallball.settings import Settings
from filewallball.storage import Storage
from tests.conftest import (
    IN_CI,
    MARIADB_URL,
    S3_BUCKET,
    STORAGE,
    Backend,
    activity_written,
    create_database,
    run_cli,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def other_database(backend: Backend, tmp_path: Path) -> Iterator[str]:
    """An empty database of the other kind than the run's: MariaDB for SQLite, and back."""
    if backend.name == "mariadb":
        url = f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
        migrations.upgrade(Settings(database_url=url))
        yield url
        return
    if not MARIADB_URL:
        if IN_CI:
            pytest.fail("CI must restore into MariaDB: FWB_TEST_DATABASE_URL is not set")
        pytest.skip("FWB_TEST_DATABASE_URL is not set")
    create_database(MARIADB_URL)  # the admin connection below opens the run's own database
    server = make_url(Settings(database_url=MARIADB_URL).database_url)
    name = f"{server.database}_restore"
    admin = create_engine(server.set(drivername="mysql+pymysql", database=None))
    with admin.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        connection.execute(
            text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        )
    url = server.set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(Settings(database_url=url))
    yield url
    with admin.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
    admin.dispose()


def sync_engine(url: str) -> Engine:
    parsed = make_url(url)
    driver = "sqlite" if parsed.get_backend_name() == "sqlite" else "mysql+pymysql"
    return create_engine(parsed.set(drivername=driver))


def every_row(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, as the service's models read them."""
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: [
                    tuple(row)
                    for row in connection.execute(
                        select(table).order_by(*table.primary_key.columns)
                    )
                ]
                for table in tables.all_tables()
            }
    finally:
        engine.dispose()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def fill(app: FastAPI) -> tuple[str, dict[str, bytes]]:
    """An instance in use: a key, its private and tagged files, an image with its thumbnail,
    an anonymous upload, views, downloads, a deletion. The key's secret and the files."""
    async with app.state.fwb.sessions() as session:
        issued = await keys.issue(session, "laptop", Role.uploader)
        await session.commit()
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1))
    owner = {"Authorization": f"Bearer {issued.secret}"}
    contents = {
        "notes.txt": "한글 notes\n".encode() * 500,
        "photo.png": png(),
        "anonymous.csv": b"a,b\n1,2\n",
        "gone.txt": b"deleted later",
    }
    ids: dict[str, bytes] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for name, content in contents.items():
            headers = {} if name == "anonymous.csv" else owner
            form = {"tags": "trip,2026", "is_public": "false"} if name == "notes.txt" else {}
            answer = await http.post(
                "/upload", files={"file": (name, content)}, data=form, headers=headers
            )
            assert answer.status_code == 201, answer.text
            ids[answer.json()["file_id"]] = content
        await app.state.fwb.jobs.run_until_idle()  # thumbnail and MD5s
        for file_id in ids:
            await http.get(f"/files/{file_id}", headers=owner)
            await http.get(f"/download/{file_id}", headers=owner)
        gone = next(iter(i for i, c in ids.items() if c == b"deleted later"))
        assert (await http.delete(f"/files/{gone}", headers=owner)).status_code == 204
        await activity_written(app)
    return issued.secret, ids


async def test_a_backup_restores_into_the_other_database_as_it_was(
    settings: Settings, other_database: str, tmp_path: Path
) -> None:
    source = create_app(settings.model_copy(update={"job_concurrency": 0}))
    async with source.router.lifespan_context(source):
        secret, contents = await fill(source)
        written = await run_cli(settings, "backup", str(tmp_path / "backup"))
    assert written.returncode == 0, written.stderr
    assert "6 blobs (6 copied" in written.stdout  # four files, the image's two thumbnails

    restored_dir = tmp_path / "restored"
    target_env = {
        "FWB_DATABASE_URL": other_database,
        "FWB_STORAGE_DIR": str(restored_dir),
        "FWB_S3_PREFIX": f"restored/{tmp_path.name}",
    }
    restored = await run_cli(settings, "restore", str(tmp_path / "backup"), **target_env)
    assert restored.returncode == 0, restored.stderr

    before, after = every_row(settings.database_url), every_row(other_database)
    # The backup notes its own time in the source after the snapshot: the one row it adds.
    before["system_settings"] = [
        row for row in before["system_settings"] if "last_backup_at" not in row
    ]
    assert after == before  # same ids, owners, keys, counts, tags, logs, jobs
    target = create_app(
        settings.model_copy(
            update={
                "database_url": other_database,
                "storage_dir": restored_dir,
                "s3_prefix": f"restored/{tmp_path.name}",
                "redis_url": None,
                "job_concurrency": 0,
            }
        )
    )
    async with target.router.lifespan_context(target):
        transport = httpx.ASGITransport(app=target, client=("203.0.113.7", 1))
        headers = {"Authorization": f"Bearer {secret}"}  # the key works there too
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for file_id, content in contents.items():
                answer = await http.get(f"/download/{file_id}", headers=headers)
                if content == b"deleted later":
                    assert answer.status_code == 404
                else:
                    assert answer.content == content
            image = next(i for i, c in contents.items() if c.startswith(b"\x89PNG"))
            thumbnail = await http.get(f"/thumbnails/{image}", headers=headers)
            assert thumbnail.status_code == 200
            assert thumbnail.headers["content-type"] == "image/webp"


async def test_a_second_backup_copies_only_what_is_new_and_verify_finds_damage(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    # On an S3 run the backups go to a prefix of the bucket; else to a folder.
    on_s3 = f"s3://{S3_BUCKET}/backups/{tmp_path.name}"
    place = tmp_path / "backup"
    where = on_s3 if STORAGE == "s3" else str(place)
    await client.post("/upload", files={"file": ("a.txt", b"first file")})
    first = await run_cli(settings, "backup", where)
    await client.post("/upload", files={"file": ("b.txt", b"second file")})
    second = await run_cli(settings, "backup", where)
    checked = await run_cli(settings, "backup", "--verify", where)

    assert "(1 copied" in first.stdout
    assert "2 blobs (1 copied" in second.stdout, second.stderr
    assert checked.returncode == 0, checked.stderr
    if STORAGE == "local":
        blob = next(path for path in (place / "blobs").rglob("*") if path.is_file())
        blob.write_bytes(b"bit rot")
        damaged = await run_cli(settings, "backup", "--verify", str(place))
        assert damaged.returncode == 1
        assert "damaged" in damaged.stderr


async def test_restore_refuses_an_instance_that_holds_data(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await client.post("/upload", files={"file": ("a.txt", b"kept")})
    assert (await run_cli(settings, "backup", str(tmp_path / "backup"))).returncode == 0

    refused = await run_cli(settings, "restore", str(tmp_path / "backup"))
    nothing = await run_cli(settings, "restore", str(tmp_path / "nowhere"))

    assert refused.returncode == 1
    assert "holds data" in refused.stderr
    assert nothing.returncode == 1
    assert "no complete snapshot" in nothing.stderr
    manifest = json.loads(
        next((tmp_path / "backup" / "snapshots").rglob("manifest.json")).read_text()
    )
    assert manifest["tables"]["files"]["rows"] == 1


async def test_a_blob_gone_from_storage_is_named_and_restores_as_lost(
    client: httpx.AsyncClient, settings: Settings, storage: Storage, tmp_path: Path
) -> None:
    kept = (await client.post("/upload", files={"file": ("kept.txt", b"kept")})).json()
    gone = (await client.post("/upload", files={"file": ("gone.txt", b"gone")})).json()
    hexid = gone["file_id"].replace("-", "")
    await storage.delete(f"{hexid[:2]}/{hexid[2:4]}/{hexid}")
    place = str(tmp_path / "backup")

    written = await run_cli(settings, "backup", place)
    checked = await run_cli(settings, "backup", "--verify", place)
    restored = await run_cli(settings, "restore", "--force", place)

    # The snapshot is still written, with the damage named; the next night's too.
    assert written.returncode == 1 and "blob missing" in written.stderr
    assert checked.returncode == 1 and "missing when the backup was made" in checked.stderr
    assert restored.returncode == 0, restored.stderr
    assert "marked lost" in restored.stderr
    assert (await client.get(kept["download_url"])).content == b"kept"
    assert (await client.get(gone["download_url"])).status_code == 410


async def test_uploads_landing_during_a_backup_are_wholly_in_or_wholly_out(
    settings: Settings, tmp_path: Path
) -> None:
    place = str(tmp_path / "backup")
    landed = 0
    backing_up = True

    async def keep_uploading(client: httpx.AsyncClient) -> None:
        nonlocal landed
        while backing_up:
            content = os.urandom(50_000)  # each its own content: no blob shared
            answer = await client.post("/upload", files={"file": (f"{landed}.bin", content)})
            assert answer.status_code == 201, answer.text
            landed += 1

    app = create_app(settings.model_copy(update={"rate_limit_enabled": False}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        uploading = asyncio.create_task(keep_uploading(client))
        written = await run_cli(settings, "backup", place)  # while the uploads go on
        backing_up = False
        await uploading
    restored_db = f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
    target = {
        "FWB_DATABASE_URL": restored_db,
        "FWB_STORAGE_DIR": str(tmp_path / "restored"),
        "FWB_S3_PREFIX": f"restored/{tmp_path.name}",
    }
    restored = await run_cli(settings, "restore", place, **target)
    checked = await run_cli(settings, "fsck", "--deep", **target)

    assert written.returncode == 0, written.stderr
    assert restored.returncode == 0, restored.stderr
    rows = int(restored.stdout.split(": ")[1].split()[0])
    assert landed > 0 and rows > 0
    # Every file the snapshot holds has its bytes, and no bytes are without their file.
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 without their blob" in checked.stdout
