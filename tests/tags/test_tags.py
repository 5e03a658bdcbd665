"""Tags: owners and admins change them; everyone filters and counts what they may see."""

from __future__ import annotations

import httpx
import pytest

from filewallball.access.roles import Role
from tests.conftest import ClientFor

pytestmark = pytest.mark.anyio


async def test_owner_replaces_adds_and_removes_tags(client_for: ClientFor) -> None:
    owner = await client_for(Role.uploader)
    file = (
        await owner.post("/upload", files={"file": ("a.txt", b"x")}, data={"tags": "old"})
    ).json()
    url = f"/files/{file['file_id']}/tags"

    replaced = await owner.put(url, json={"tags": ["  Quarterly   Report ", "FINANCE", "finance"]})
    assert replaced.json() == {"tags": ["finance", "quarterly report"]}
    added = await owner.post(url, json={"tags": ["2026"]})
    assert added.json() == {"tags": ["2026", "finance", "quarterly report"]}
    removed = await owner.delete(f"{url}/FINANCE")
    assert removed.json() == {"tags": ["2026", "quarterly report"]}
    info = (await owner.get(file["info_url"])).json()  # the cache saw the change
    assert info["tags"] == ["2026", "quarterly report"]


async def test_tags_are_limited(client_for: ClientFor) -> None:
    owner = await client_for(Role.uploader)
    file = (await owner.post("/upload", files={"file": ("a.txt", b"x")})).json()
    url = f"/files/{file['file_id']}/tags"
    # Both limits are in the OpenAPI document, so the body is refused as invalid (422).
    assert (await owner.put(url, json={"tags": ["x" * 51]})).status_code == 422
    assert (await owner.put(url, json={"tags": [f"t{i}" for i in range(21)]})).status_code == 422
    await owner.put(url, json={"tags": [f"t{i}" for i in range(20)]})
    assert (await owner.post(url, json={"tags": ["one-more"]})).status_code == 400


async def test_only_owner_or_admin_change_tags(client_for: ClientFor) -> None:
    owner, other, admin = (
        await client_for(Role.uploader),
        await client_for(Role.uploader),
        await client_for(Role.admin),
    )
    file = (await owner.post("/upload", files={"file": ("a.txt", b"x")})).json()
    url = f"/files/{file['file_id']}/tags"
    assert (await other.put(url, json={"tags": ["mine"]})).status_code == 403
    assert (await admin.put(url, json={"tags": ["moderated"]})).status_code == 200
    private = (
        await owner.post("/upload", files={"file": ("b.txt", b"x")}, data={"is_public": "false"})
    ).json()
    assert (
        await other.put(f"/files/{private['file_id']}/tags", json={"tags": []})
    ).status_code == 404
    audit = (await admin.get("/admin/audit", params={"action": "tags_changed"})).json()
    assert audit["total"] == 1


async def test_tag_counts_and_filters_respect_privacy(
    client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    owner = await client_for(Role.uploader)
    for name, tags, public in [
        ("a.txt", "trip,2026", "true"),
        ("b.txt", "trip", "true"),
        ("c.txt", "trip,secret", "false"),
    ]:
        await owner.post(
            "/upload", files={"file": (name, b"x")}, data={"tags": tags, "is_public": public}
        )

    assert (await client.get("/tags")).json() == [
        {"tag": "trip", "count": 2},
        {"tag": "2026", "count": 1},
    ]
    mine = (await owner.get("/tags")).json()
    assert mine[0] == {"tag": "trip", "count": 3}
    assert {"tag": "secret", "count": 1} in mine

    both = (await owner.get("/files", params=[("tag", "trip"), ("tag", "2026")])).json()
    assert [item["filename"] for item in both["items"]] == ["a.txt"]
    assert (await client.get("/files", params={"tag": "secret"})).json()["total"] == 0
