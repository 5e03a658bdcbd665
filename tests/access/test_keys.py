"""API keys: issued once, stored hashed, checked in constant time, refused when bad."""

from __future__ import annotations

import os
import subprocess
import sys

import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from filewallball.access.roles import Actor, Role
from filewallball.app import create_app
from filewallball.settings import Settings
from tests.access.conftest import AppLog
from tests.conftest import Backend, ClientFor

pytestmark = pytest.mark.anyio


async def cli(backend: Backend, *args: str) -> subprocess.CompletedProcess[str]:
    """`filewallball keys …` in its own process, awaited: the app under test keeps running
    meanwhile, as it would beside an operator's command."""
    return await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            [sys.executable, "-m", "filewallball", "keys", *args],
            env={**os.environ, "FWB_DATABASE_URL": backend.database_url},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    )


async def test_cli_creates_lists_and_revokes_keys(
    clean_backend: Backend, app: FastAPI, database: Engine
) -> None:
    created = await cli(clean_backend, "create", "--name", "ci", "--role", "uploader")
    assert created.returncode == 0, created.stderr
    lines = dict(line.split(":", 1) for line in created.stdout.splitlines())
    key_id, secret = lines["key id"].strip(), lines["key"].strip()
    assert secret.startswith(f"fwb_{key_id}_")
    with database.connect() as connection:
        stored = connection.execute(text("SELECT secret_hash FROM api_keys")).scalar_one()
    assert secret.split("_", 2)[2] not in stored  # only a hash is kept

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        bearer = {"Authorization": f"Bearer {secret}"}
        assert (
            await http.post("/upload", files={"file": ("a.txt", b"x")}, headers=bearer)
        ).status_code == 201
        assert f"{key_id}  uploader  active" in (await cli(clean_backend, "list")).stdout
        assert (await cli(clean_backend, "revoke", key_id)).returncode == 0
        refused = await http.post("/upload", files={"file": ("a.txt", b"x")}, headers=bearer)
    assert refused.status_code == 401
    assert "revoked" in (await cli(clean_backend, "list")).stdout
    assert (await cli(clean_backend, "revoke", "nonexistent0")).returncode == 1
    with database.connect() as connection:
        audited = connection.execute(
            text(
                "SELECT actor, action, target, outcome, detail FROM audit_logs WHERE actor = 'cli'"
            )
        ).all()
    assert sorted((row.action, row.target, row.outcome) for row in audited) == [
        ("key_created", f"key:{key_id}", "success"),
        ("key_revoked", f"key:{key_id}", "success"),
    ]
    assert '"role": "uploader"' in str([row.detail for row in audited])
    assert secret.split("_", 2)[2] not in str(audited)


async def test_key_works_as_bearer_or_x_api_key(app: FastAPI, client_for: ClientFor) -> None:
    uploader = await client_for(Role.uploader)
    secret = uploader.headers["Authorization"].removeprefix("Bearer ")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        by_header = await http.post(
            "/upload",
            files={"file": ("a.txt", b"x")},
            headers={"X-API-Key": secret},
            data={"is_public": "false"},
        )
    assert by_header.status_code == 201
    assert "delete_token" not in by_header.json()  # owned by the key, not anonymous


@pytest.mark.parametrize(
    "authorization",
    ["Bearer fwb_000000000000_" + "A" * 43, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer "],
)
async def test_a_bad_key_is_401_never_anonymous(
    client: httpx.AsyncClient, authorization: str
) -> None:
    response = await client.get("/files", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


UNKNOWN_KEY = "fwb_000000000000_" + "A" * 43  # well formed: it is looked up, and not found


@pytest.mark.parametrize(
    ("anonymous_role", "method", "path"),
    [
        ("uploader", "GET", "/admin/keys"),
        ("viewer", "GET", "/admin/keys"),
        ("viewer", "POST", "/upload"),
        ("none", "GET", "/admin/keys"),
        ("none", "GET", "/files"),
    ],
)
@pytest.mark.parametrize("wrong_key", [UNKNOWN_KEY, "nonsense"])
async def test_wrong_and_missing_keys_get_the_same_answer(
    settings: Settings, anonymous_role: str, method: str, path: str, wrong_key: str
) -> None:
    app = create_app(settings.model_copy(update={"anonymous_role": anonymous_role}))
    async with app.router.lifespan_context(app):

        async def send(ip: str, headers: dict[str, str]) -> httpx.Response:
            # Each from its own address, so that both start from the same rate-limit budget.
            transport = httpx.ASGITransport(app=app, client=(ip, 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                return await http.request(method, path, headers=headers)

        missing = await send("192.0.2.21", {})
        wrong = await send("192.0.2.22", {"Authorization": f"Bearer {wrong_key}"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.content == wrong.content
    assert missing.headers["www-authenticate"] == 'Bearer realm="filewallball"'

    def comparable(response: httpx.Response) -> list[tuple[str, str]]:
        return sorted((k, v) for k, v in response.headers.items() if k != "x-request-id")

    assert comparable(missing) == comparable(wrong)


async def test_probes_need_no_key(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"anonymous_role": "none"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/health/live")).status_code == 200
            assert (await http.get("/files")).status_code == 401


@pytest.mark.parametrize("parameter", ["api_key", "key", "token", "access_token", "API_KEY", "q"])
async def test_a_key_in_the_url_is_refused_and_never_logged(
    client: httpx.AsyncClient, client_for: ClientFor, parameter: str, app_log: AppLog
) -> None:
    uploader = await client_for(Role.uploader)
    secret = uploader.headers["Authorization"].removeprefix("Bearer ")
    response = await client.get("/files", params={parameter: secret})
    assert response.status_code == 400
    assert "Authorization" in response.json()["detail"]
    admin = await client_for(Role.admin)
    audit = (await admin.get("/admin/audit", params={"action": "auth_failed"})).json()
    assert audit["items"]
    assert secret not in str(audit)
    refused = [line for line in app_log.requests() if line["status"] == 400]
    assert refused, app_log.text  # the refused request was logged ...
    assert [line["action"] for line in app_log.events("audit")] == ["auth_failed"]
    assert secret not in app_log.text  # ... and the key was not
    assert secret.split("_", 2)[2] not in app_log.text


async def test_keys_and_delete_tokens_never_reach_the_log(
    client: httpx.AsyncClient, client_for: ClientFor, app_log: AppLog
) -> None:
    uploader = await client_for(Role.uploader)
    secret = uploader.headers["Authorization"].removeprefix("Bearer ")
    by_bearer = await uploader.post("/upload", files={"file": ("a.txt", b"x")})
    by_header = await client.get("/files", headers={"X-API-Key": secret})
    unknown = secret[:-4] + "AAAA"  # a real key id with a wrong secret
    wrong = await client.get("/files", headers={"Authorization": f"Bearer {unknown}"})
    anonymous = (await client.post("/upload", files={"file": ("b.txt", b"y")})).json()
    token = anonymous["delete_token"]
    deleted = await client.delete(anonymous["info_url"], headers={"X-Delete-Token": token})

    assert [by_bearer.status_code, by_header.status_code, wrong.status_code] == [201, 200, 401]
    assert deleted.status_code == 204
    logged = [(line["method"], line["route"], line["status"]) for line in app_log.requests()]
    for request in (
        ("POST", "/upload", 201),
        ("GET", "/files", 200),
        ("GET", "<unmatched>", 401),  # refused before any route was matched
        ("DELETE", "/files/{file_id}", 204),
    ):
        assert request in logged, logged
    for secret_part in (secret, secret.split("_", 2)[2], unknown.split("_", 2)[2], token):
        assert secret_part not in app_log.text


@pytest.mark.parametrize(
    "query",
    [
        "q={secret}",
        "note=see%20{secret}%20here",
        "{secret}",
        "filter={key_id_prefix}partial",
        "page=1&sort={secret}",
    ],
)
async def test_a_key_anywhere_in_the_url_is_refused(
    client: httpx.AsyncClient, client_for: ClientFor, query: str
) -> None:
    uploader = await client_for(Role.uploader)
    secret = uploader.headers["Authorization"].removeprefix("Bearer ")
    url = "/files?" + query.format(secret=secret, key_id_prefix=secret[:17])
    response = await client.get(url)
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/key-in-url"
    assert (await client.get("/files?page=1&q=fwb_notakey")).status_code == 200


async def test_revocation_and_role_changes_reach_every_replica_at_once(
    settings: Settings, client_for: ClientFor
) -> None:
    admin = await client_for(Role.admin)
    created = (await admin.post("/admin/keys", json={"name": "x", "role": "uploader"})).json()
    other_replica = create_app(settings)
    async with other_replica.router.lifespan_context(other_replica):
        transport = httpx.ASGITransport(app=other_replica)
        headers = {"Authorization": f"Bearer {created['key']}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as http:
            assert (await http.post("/upload", files={"file": ("a.txt", b"x")})).status_code == 201
            await admin.patch(f"/admin/keys/{created['key_id']}", json={"role": "viewer"})
            assert (await http.post("/upload", files={"file": ("a.txt", b"x")})).status_code == 403
            await admin.delete(f"/admin/keys/{created['key_id']}")
            assert (await http.get("/files")).status_code == 401


# Who may hand out which role, spelled out rather than derived from the ranks under test.
GRANTABLE = {
    (Role.admin, Role.admin),
    (Role.admin, Role.uploader),
    (Role.admin, Role.viewer),
    (Role.uploader, Role.uploader),
    (Role.uploader, Role.viewer),
    (Role.viewer, Role.viewer),
}


@pytest.mark.parametrize("holder", [*Role, None])
@pytest.mark.parametrize("granted", list(Role))
def test_a_role_grants_only_what_it_holds(holder: Role | None, granted: Role) -> None:
    # Only admins reach the key endpoints today, so this is where the rule itself is tested.
    actor = Actor(role=holder, key_pk=1, key_id="0123456789ab")
    assert actor.may_grant(granted) == ((holder, granted) in GRANTABLE)


async def test_no_one_grants_more_than_they_hold(client_for: ClientFor) -> None:
    uploader = await client_for(Role.uploader)
    admin = await client_for(Role.admin)
    assert (
        await uploader.post("/admin/keys", json={"name": "x", "role": "viewer"})
    ).status_code == 403
    made = await admin.post("/admin/keys", json={"name": "y", "role": "admin"})
    assert made.status_code == 201
    assert made.json()["key"].startswith("fwb_")
    listed = (await admin.get("/admin/keys")).json()
    assert all("key" not in item for item in listed)
    assert {item["role"] for item in listed} == {"uploader", "admin"}


async def test_behind_a_path_prefix_the_probes_stay_open_and_the_rest_takes_a_key(
    settings: Settings,
) -> None:
    # A proxy serves the service under /fwb and says so in root_path; the paths keep it.
    app = create_app(settings.model_copy(update={"anonymous_role": "none"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, root_path="/fwb")
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/fwb/health/live")).status_code == 200
            assert (await http.get("/fwb/files")).status_code == 401
