"""Admin operations on files and extension rules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from filewallball.access.roles import Role
from filewallball.storage import Storage
from tests.conftest import ClientFor, blob_keys, count_rows

pytestmark = pytest.mark.anyio


async def test_restore_brings_a_deleted_file_back(client_for: ClientFor) -> None:
    admin = await client_for(Role.admin)
    owner = await client_for(Role.uploader)
    created = (await owner.post("/upload", files={"file": ("a.txt", b"back")})).json()
    await owner.delete(created["info_url"])
    assert (await owner.get(created["download_url"])).status_code == 404

    assert (await admin.post(f"/admin/files/{created['file_id']}/restore")).status_code == 204

    assert (await owner.get(created["download_url"])).content == b"back"
    missing = await admin.post("/admin/files/3f1c2b9e-8d4a-4f7e-9a1b-2c3d4e5f6a7b/restore")
    assert missing.status_code == 404


async def test_purge_removes_row_logs_and_bytes(
    client_for: ClientFor, storage: Storage, database: Engine
) -> None:
    admin = await client_for(Role.admin)
    created = (await admin.post("/upload", files={"file": ("a.txt", b"gone")})).json()
    await admin.get(created["download_url"])
    assert (await admin.delete(f"/admin/files/{created['file_id']}")).status_code == 204
    assert (await admin.get(created["info_url"])).status_code == 404
    assert await blob_keys(storage) == []
    assert count_rows(database, "files") == 0
    assert count_rows(database, "file_downloads") == 0


@pytest.fixture
def restore_extensions(database: Engine) -> Iterator[None]:
    yield
    with database.begin() as connection:
        connection.execute(
            text(
                "UPDATE file_extensions SET is_allowed = 1, max_file_size = NULL "
                "WHERE extension = 'csv'"
            )
        )
        connection.execute(text("DELETE FROM file_extensions WHERE extension = 'xyz'"))


@pytest.mark.usefixtures("restore_extensions")
async def test_extension_rules_are_set_by_admins(client_for: ClientFor) -> None:
    admin = await client_for(Role.admin)
    refused = await admin.put("/admin/extensions/csv", json={"is_allowed": False})
    assert refused.json() == {
        "extension": "csv",
        "mime_type": "text/csv",
        "category": "text",
        "is_allowed": False,
        "max_file_size": None,
    }
    assert (await admin.post("/upload", files={"file": ("a.csv", b"a,b")})).status_code == 415
    await admin.put("/admin/extensions/csv", json={"is_allowed": True, "max_file_size": 3})
    assert (await admin.post("/upload", files={"file": ("a.csv", b"a,b,c")})).status_code == 413
    assert (await admin.post("/upload", files={"file": ("a.csv", b"a,b")})).status_code == 201
    new = await admin.put("/admin/extensions/xyz", json={"is_allowed": False})
    assert new.json()["category"] == "other"
    assert (await admin.post("/upload", files={"file": ("a.xyz", b"1")})).status_code == 415
    bad = await admin.put("/admin/extensions/a.b", json={"is_allowed": False})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    # Refused as invalid, never failed as an error by the database.
    huge = await admin.put("/admin/extensions/csv", json={"max_file_size": 2**63})  # over a BIGINT
    assert huge.status_code == 422
    uploader = await client_for(Role.uploader)
    assert (await uploader.put("/admin/extensions/csv", json={})).status_code == 403
