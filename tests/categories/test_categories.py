"""Categories: listed with extensions and totals; admins add them and move extensions."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, text

from filewallball.access.roles import Role
from tests.conftest import ClientFor

pytestmark = pytest.mark.anyio


@pytest.fixture
def restore_catalogue(database: Engine) -> Iterator[None]:
    yield
    with database.begin() as connection:
        text_id = connection.execute(
            text("SELECT id FROM file_categories WHERE name = 'text'")
        ).scalar_one()
        connection.execute(
            text("UPDATE file_extensions SET category_id = :id WHERE extension = 'md'"),
            {"id": text_id},
        )
        connection.execute(
            text("UPDATE files SET file_category_id = :id WHERE file_extension = 'md'"),
            {"id": text_id},
        )
        connection.execute(text("DELETE FROM file_categories WHERE name = 'notes'"))


async def test_categories_list_extensions_and_totals(client: httpx.AsyncClient) -> None:
    await client.post("/upload", files={"file": ("a.png", b"\x89PNG\r\n\x1a\n" + bytes(30))})
    await client.post("/upload", files={"file": ("b.unknownext", b"12345")})
    categories = {c["name"]: c for c in (await client.get("/categories")).json()}
    assert {"image", "video", "audio", "document", "text", "code", "archive", "other"} <= set(
        categories
    )
    assert categories["image"]["file_count"] == 1
    assert categories["other"]["file_count"] == 1
    assert categories["other"]["total_size"] == 5
    assert "png" in {e["extension"] for e in categories["image"]["extensions"]}
    refused = {e["extension"]: e for e in categories["executable"]["extensions"]}
    assert refused["exe"]["is_allowed"] is False


@pytest.mark.usefixtures("restore_catalogue")
async def test_admins_add_categories_and_move_extensions(
    client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    admin = await client_for(Role.admin)
    note = (await client.post("/upload", files={"file": ("n.md", b"# hi")})).json()
    created = await admin.post("/admin/categories", json={"name": "notes", "description": "Notes"})
    assert created.status_code == 201
    again = await admin.post("/admin/categories", json={"name": "notes"})
    assert again.status_code == 409
    moved = await admin.put("/admin/extensions/md", json={"category": "notes"})
    assert moved.json()["category"] == "notes"
    assert (await client.get(note["info_url"])).json()["category"] == "notes"
    listed = {c["name"]: c for c in (await client.get("/categories")).json()}
    assert listed["notes"]["file_count"] == 1
    assert [e["extension"] for e in listed["notes"]["extensions"]] == ["md"]
    assert (await admin.put("/admin/extensions/md", json={"category": "nope"})).status_code == 404
    bad = await admin.post("/admin/categories", json={"name": "Bad Name!"})
    assert bad.status_code == 422


async def test_private_files_count_only_for_their_owner_and_admins(
    client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    owner, other, admin = (
        await client_for(Role.uploader),
        await client_for(Role.uploader),
        await client_for(Role.admin),
    )
    await client.post("/upload", files={"file": ("shared.csv", b"a,b")})
    await owner.post(
        "/upload", files={"file": ("secret.csv", b"1,2,3,4")}, data={"is_public": "false"}
    )

    async def text_totals(http: httpx.AsyncClient) -> tuple[int, int]:
        listed = {c["name"]: c for c in (await http.get("/categories")).json()}
        return listed["text"]["file_count"], listed["text"]["total_size"]

    assert await text_totals(client) == (1, 3)
    assert await text_totals(other) == (1, 3)
    assert await text_totals(owner) == (2, 10)
    assert await text_totals(admin) == (2, 10)
