"""`filewallball fsck`: every file's row has its blob and every blob its row; what is broken
is named, and `--repair` leaves an instance that answers 410 for what is lost, never 500."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from filewallball.files import fsck
from filewallball.settings import Settings
from filewallball.storage import Storage
from tests.conftest import run_cli

pytestmark = pytest.mark.anyio


async def put(storage: Storage, key: str, data: bytes) -> None:
    writer = storage.writer(key)
    await writer.write(data)
    await writer.commit()


async def check(app: FastAPI, *, deep: bool = False, repair: bool = False) -> fsck.Findings:
    state = app.state.fwb
    return await fsck.check(
        state.sessions, state.storage, deep=deep, repair=repair, stale_seconds=0
    )


async def upload(client: httpx.AsyncClient, name: str, content: bytes) -> tuple[str, str]:
    """The file's id and its blob's key."""
    answer = await client.post("/upload", files={"file": (name, content)})
    assert answer.status_code == 201, answer.text
    file_id = answer.json()["file_id"]
    hexid = file_id.replace("-", "")
    return file_id, f"{hexid[:2]}/{hexid[2:4]}/{hexid}"


async def test_a_healthy_instance_has_nothing_to_report(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await upload(client, "a.txt", b"alpha")
    await upload(client, "b.txt", b"beta")

    findings = await check(app, deep=True)

    assert not findings.damaged
    assert findings.checked == 2


async def test_every_kind_of_damage_is_named_and_repair_leaves_410_not_500(
    app: FastAPI, client: httpx.AsyncClient, storage: Storage
) -> None:
    gone, gone_key = await upload(client, "gone.txt", b"these bytes will vanish")
    short, short_key = await upload(client, "short.txt", b"these bytes will be cut")
    rotten, rotten_key = await upload(client, "rotten.txt", b"these bytes will change")
    await storage.delete(gone_key)
    await put(storage, short_key, b"cut")
    await put(storage, rotten_key, b"THESE BYTES WILL CHANGE")  # same size, other bytes
    orphan = "ab/cd/abcd0000000000000000000000000000"
    await put(storage, orphan, b"no row will ever name me")
    await put(storage, f"{orphan.replace('ab/cd/abcd', 'ef/01/ef01')}.thumbs/small.webp", b"x")
    abandoned = storage.writer("12/34/12340000000000000000000000000000")
    await abandoned.write(b"half an upload")

    shallow = await check(app)
    deep = await check(app, deep=True)

    assert (shallow.missing, shallow.wrong_size, shallow.wrong_content) == ([gone], [short], [])
    assert deep.wrong_content == [rotten]  # only reading the bytes finds it
    assert deep.orphans == [orphan]
    assert deep.orphan_thumbnails == ["ef/01/ef010000000000000000000000000000.thumbs/small.webp"]
    assert deep.stale_writes == 1

    repaired = await check(app, repair=True)
    after = await check(app)

    assert repaired.repaired == 4  # two orphans, the write, the lost file marked
    assert (after.missing, after.lost, after.orphans, after.stale_writes) == ([], [gone], [], 0)
    for path in (f"/download/{gone}", f"/view/{gone}"):
        answer = await client.get(path)
        assert answer.status_code == 410
        assert answer.headers["content-type"] == "application/problem+json"
        assert "lost" in answer.json()["detail"]
    assert (await client.get(f"/files/{gone}")).status_code == 200  # what it was is known
    await abandoned.abort()  # its writer lets go of the file the repair removed


async def test_the_command_exits_1_on_damage_and_0_once_repaired(
    client: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    file_id, key = await upload(client, "a.txt", b"alpha")
    await storage.delete(key)

    damaged = await run_cli(settings, "fsck")
    repaired = await run_cli(settings, "fsck", "--repair")
    after = await run_cli(settings, "fsck")

    assert damaged.returncode == 1
    assert f"missing: {file_id}" in damaged.stderr
    assert "1 without their blob" in damaged.stdout
    assert repaired.returncode == 1  # it found damage, then mended what it could
    assert after.returncode == 0
    assert "1 marked lost before" in after.stdout
