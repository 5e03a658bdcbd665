"""The audit log: every security-relevant operation, with who, from where, and no secret."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine, text

from filewallball.access.roles import Role
from tests.conftest import ClientFor

pytestmark = pytest.mark.anyio


async def test_operations_are_audited_with_actor_ip_request_id_and_outcome(
    client: httpx.AsyncClient, client_for: ClientFor, database: Engine
) -> None:
    admin = await client_for(Role.admin, ip="192.0.2.99")
    uploader = await client_for(Role.uploader)
    created = (await uploader.post("/upload", files={"file": ("a.txt", b"x")})).json()
    await uploader.patch(created["info_url"], json={"is_public": False})
    await uploader.delete(created["info_url"])
    await admin.post(f"/admin/files/{created['file_id']}/restore")
    await admin.delete(f"/admin/files/{created['file_id']}")
    issued = (await admin.post("/admin/keys", json={"name": "n", "role": "viewer"})).json()
    await admin.patch(f"/admin/keys/{issued['key_id']}", json={"role": "uploader"})
    await admin.delete(f"/admin/keys/{issued['key_id']}")
    await client.get("/files", headers={"Authorization": "Bearer fwb_wrong"})

    log = (await admin.get("/admin/audit", params={"size": 100})).json()
    actions = [entry["action"] for entry in log["items"]]
    for action in (
        "upload",
        "visibility_changed",
        "delete",
        "restore",
        "purge",
        "key_created",
        "key_role_changed",
        "key_revoked",
        "auth_failed",
    ):
        assert action in actions, action
    changed = next(e for e in log["items"] if e["action"] == "key_role_changed")
    assert changed["target"] == f"key:{issued['key_id']}"
    assert '"role": "uploader"' in changed["detail"]
    restore = next(e for e in log["items"] if e["action"] == "restore")
    assert restore["actor"].startswith("key:")
    assert restore["client_ip"] == "192.0.2.99"
    assert restore["target"] == created["file_id"]
    assert restore["outcome"] == "success"
    assert len(restore["request_id"]) == 32
    failure = next(e for e in log["items"] if e["action"] == "auth_failed")
    assert failure["outcome"] == "denied"
    with database.connect() as connection:
        everything = str(connection.execute(text("SELECT * FROM audit_logs")).all())
    assert issued["key"] not in everything
    assert issued["key"].split("_", 2)[2] not in everything  # the secret, which may hold "_"


async def test_audit_filters_and_pages(client_for: ClientFor) -> None:
    admin = await client_for(Role.admin)
    uploader = await client_for(Role.uploader)
    for _ in range(3):
        await uploader.post("/upload", files={"file": ("a.txt", b"x")})
    key_id = uploader.headers["Authorization"].split("_")[1]
    by_actor = (await admin.get("/admin/audit", params={"actor": f"key:{key_id}"})).json()
    assert by_actor["total"] == 3
    page = (await admin.get("/admin/audit", params={"action": "upload", "size": 2})).json()
    assert (len(page["items"]), page["pages"]) == (2, 2)
    future = (await admin.get("/admin/audit", params={"since": "2999-01-01T00:00:00Z"})).json()
    assert future["total"] == 0
    past = (await admin.get("/admin/audit", params={"until": "2000-01-01T00:00:00Z"})).json()
    assert past["total"] == 0
    until_far = (await admin.get("/admin/audit", params={"until": "2999-01-01T00:00:00Z"})).json()
    assert until_far["total"] == by_actor["total"]  # the uploads are every entry there is

    first = by_actor["items"][-1]
    targeted = (await admin.get("/admin/audit", params={"target": first["target"]})).json()
    assert [(e["action"], e["target"]) for e in targeted["items"]] == [("upload", first["target"])]
    nothing = (await admin.get("/admin/audit", params={"target": "no-such-file"})).json()
    assert nothing["total"] == 0


async def test_rate_limit_hits_are_audited_once_not_per_request(
    client_for: ClientFor, settings: object
) -> None:
    from filewallball.app import create_app

    app = create_app(settings.model_copy(update={"rate_limit_reads": "1/minute"}))  # type: ignore[attr-defined]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.77", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            statuses = [(await http.get("/files")).status_code for _ in range(5)]
    assert statuses == [200, 429, 429, 429, 429]
    admin = await client_for(Role.admin)
    hits = (await admin.get("/admin/audit", params={"action": "rate_limited"})).json()
    assert hits["total"] == 1
    assert hits["items"][0]["client_ip"] == "192.0.2.77"


async def test_refusals_inside_endpoints_are_audited_once_a_minute(
    client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    owner = await client_for(Role.uploader)
    other = await client_for(Role.uploader, ip="192.0.2.41")
    viewer = await client_for(Role.viewer, ip="192.0.2.42")
    created = (await owner.post("/upload", files={"file": ("a.txt", b"x")})).json()
    file_id = created["file_id"]

    assert (await client.get("/admin/audit")).status_code == 401  # anonymous, not an admin
    assert (await other.delete(f"/files/{file_id}")).status_code == 403
    assert (await other.put(f"/files/{file_id}/tags", json={"tags": ["x"]})).status_code == 403
    assert (await viewer.get("/admin/keys")).status_code == 403
    assert (await viewer.get("/admin/keys")).status_code == 403

    admin = await client_for(Role.admin)
    failures = (await admin.get("/admin/audit", params={"action": "auth_failed"})).json()
    seen = sorted((e["client_ip"], e["target"], e["outcome"]) for e in failures["items"])
    # One entry per client a minute: the second refusal of each client is not written again.
    assert seen == [
        ("192.0.2.41", f"/files/{file_id}", "denied"),
        ("192.0.2.42", "/admin/keys", "denied"),
        ("203.0.113.7", "/admin/audit", "denied"),
    ]
    actors = {e["client_ip"]: e["actor"] for e in failures["items"]}
    assert actors["203.0.113.7"] == "anonymous"
    assert actors["192.0.2.41"] == f"key:{other.headers['Authorization'].split('_')[1]}"
