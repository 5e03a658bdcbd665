"""Every file endpoint, every role, public or private, own or another's file: one table."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from filewallball.access.roles import Role
from tests.conftest import ClientFor

pytestmark = pytest.mark.anyio

ROLES = ["admin", "uploader", "viewer", "anonymous"]
FILES = ["public-own", "private-own", "public-other", "private-other"]
READS = ["info", "download", "head", "view"]
CHANGES = ["make-private", "tag-add", "tag-replace", "tag-remove"]
# Viewers cannot upload, and anonymous uploads have no owner: neither ever owns a file.
CALLERS_AND_FILES = [
    (role, file)
    for role in ROLES
    for file in FILES
    if not (file.endswith("-own") and role in ("viewer", "anonymous"))
]


def expected(action: str, role: str, file: str) -> int:
    """The specification, spelled out: what each role may do with each kind of file."""
    own = file.endswith("-own")
    visible = role == "admin" or own or file.startswith("public")
    if action in READS:
        return 200 if visible else 404
    if action == "list":
        return 200
    if not visible:
        return 404  # another's private file does not exist, not even for refusing
    if action == "delete":
        return 204 if role == "admin" or (own and role == "uploader") else 403
    if action in CHANGES:
        return 200 if role == "admin" or (own and role == "uploader") else 403
    raise AssertionError(action)


async def make_file(owner: httpx.AsyncClient, public: bool) -> dict[str, Any]:
    response = await owner.post(
        "/upload", files={"file": ("m.txt", b"matrix")}, data={"is_public": str(public).lower()}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(("role", "file"), CALLERS_AND_FILES)
@pytest.mark.parametrize("action", [*READS, "list", *CHANGES, "delete"])
async def test_access_matrix(client_for: ClientFor, role: str, file: str, action: str) -> None:
    caller = await client_for(None if role == "anonymous" else Role(role))
    other = await client_for(Role.uploader)
    owner = caller if file.endswith("-own") else other
    target = await make_file(owner, public=file.startswith("public"))
    file_id = target["file_id"]

    if action == "info":
        response = await caller.get(f"/files/{file_id}")
    elif action == "download":
        response = await caller.get(f"/download/{file_id}")
    elif action == "head":
        response = await caller.head(f"/download/{file_id}")
    elif action == "view":
        response = await caller.get(f"/view/{file_id}")
    elif action == "list":
        response = await caller.get("/files")
        listed = {item["file_id"] for item in response.json()["items"]}
        assert (file_id in listed) == (expected("info", role, file) == 200)
    elif action == "make-private":
        response = await caller.patch(f"/files/{file_id}", json={"is_public": False})
    elif action == "tag-add":
        response = await caller.post(f"/files/{file_id}/tags", json={"tags": ["seen"]})
    elif action == "tag-replace":
        response = await caller.put(f"/files/{file_id}/tags", json={"tags": ["seen"]})
    elif action == "tag-remove":
        response = await caller.delete(f"/files/{file_id}/tags/seen")
    else:
        response = await caller.delete(f"/files/{file_id}")
    assert response.status_code == expected(action, role, file), response.text


async def test_anonymous_uploader_deletes_with_its_token_only(
    client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    created = (await client.post("/upload", files={"file": ("a.txt", b"x")})).json()
    stranger = await client_for(None, ip="198.51.100.9")
    wrong = await stranger.delete(created["info_url"], headers={"X-Delete-Token": "guess"})
    right = await stranger.delete(
        created["info_url"], headers={"X-Delete-Token": created["delete_token"]}
    )
    assert wrong.status_code == 403
    assert right.status_code == 204


async def test_anonymous_private_upload_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/upload", files={"file": ("a.txt", b"x")}, data={"is_public": "false"}
    )
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Anonymous uploads are public: use an API key for a private file."
    )


async def test_viewer_cannot_upload(client_for: ClientFor) -> None:
    viewer = await client_for(Role.viewer)
    response = await viewer.post("/upload", files={"file": ("a.txt", b"x")})
    assert response.status_code == 403


async def test_only_admins_reach_admin_endpoints(client_for: ClientFor) -> None:
    for role, status in [(Role.viewer, 403), (Role.uploader, 403), (None, 401), (Role.admin, 200)]:
        caller = await client_for(role)
        assert (await caller.get("/admin/keys")).status_code == status, role
