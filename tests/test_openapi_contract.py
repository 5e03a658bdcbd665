"""The documentation pages work without the internet, and the document says how to send a key,
what the instance's own limits are, and every method a path offers."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from filewallball.access.roles import Role
from filewallball.app import create_app
from filewallball.settings import Settings
from tests.conftest import ClientFor

pytestmark = pytest.mark.anyio
ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.mark.parametrize(
    ("page", "types"),
    [
        ("/docs", {"text/javascript", "text/css", "image/png"}),
        ("/redoc", {"text/javascript", "image/png"}),
    ],
)
async def test_docs_pages_load_only_assets_the_service_serves(
    client: httpx.AsyncClient, page: str, types: set[str]
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assets = ASSET.findall(response.text)
    assert assets and all(url.startswith("/docs/assets/") for url in assets), assets
    served = set()
    for url in assets:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
        served.add(asset.headers["content-type"].split(";")[0])
    assert served == types
    csp = response.headers["content-security-policy"]
    assert "https:" not in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    # Swagger UI's start-up script is allowed by its hash, and no other inline script.
    assert ("'sha256-" in csp) == (page == "/docs")


async def test_docs_open_without_a_key_where_anonymous_access_is_off(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"anonymous_role": "none"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for url in ["/docs", "/redoc", "/docs/assets/swagger-ui-bundle.js", "/openapi.json"]:
                assert (await http.get(url)).status_code == 200, url
            assert (await http.get("/files")).status_code == 401


async def test_the_key_is_a_bearer_scheme_and_protected_operations_carry_it(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "fwb_<key id>_<secret>",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert spec["paths"]["/admin/keys"]["get"]["security"] == [{"bearer": []}]
    assert spec["paths"]["/stats"]["get"]["security"] == [{"bearer": []}]
    # Anonymous uploads are on by default: a key is optional there.
    assert spec["paths"]["/upload"]["post"]["security"] == [{"bearer": []}, {}]
    assert "security" not in spec["paths"]["/health"]["get"]


async def test_the_document_states_the_instances_own_limits(settings: Settings) -> None:
    app: FastAPI = create_app(settings.model_copy(update={"max_expires_in": 3600}))
    spec = app.openapi()
    change = spec["components"]["schemas"]["FileChange"]["properties"]["expires_in"]
    assert change["maximum"] == 3600
    form = spec["paths"]["/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"]["properties"]["expires_in"]["maximum"] == 3600
    assert "x-maximum-setting" not in str(spec)
    tag = spec["components"]["schemas"]["TagList"]["properties"]["tags"]
    assert tag["maxItems"] == 20 and tag["items"]["maxLength"] == 50


async def test_try_it_out_on_the_upload_form_sends_only_the_file(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    form = spec["paths"]["/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]
    fields = form["schema"]["properties"]
    assert not any("example" in field or "examples" in field for field in fields.values())
    # What Swagger UI then sends: the file, and is_public's default.
    answer = await client.post(
        "/upload", files={"file": ("a.txt", b"hi")}, data={"is_public": "true"}
    )
    assert answer.status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/files/x", "GET, PATCH, DELETE"),
        ("PUT", "/download/x", "GET, HEAD"),
        ("GET", "/files/x/tags", "POST, PUT"),
    ],
)
async def test_a_refused_method_is_told_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["type"] == "/problems/method-not-allowed"


async def test_what_the_document_calls_invalid_is_refused(
    client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    admin = await client_for(Role.admin)
    uploaded = (await admin.post("/upload", files={"file": ("a.txt", b"x")})).json()
    file_url = f"/files/{uploaded['file_id']}"
    for body in [{"is_public": 0}, {"is_public": None}, {"is_public": "false"}]:
        assert (await admin.patch(file_url, json=body)).status_code == 422, body
    assert (await admin.put("/admin/extensions/txt", json={"is_allowed": 1})).status_code == 422
    # The form field is text, refused outside its spellings (tests/files/test_visibility.py).
    form = {"is_public": "maybe"}
    refused = await admin.post("/upload", files={"file": ("b.txt", b"x")}, data=form)
    assert refused.status_code == 400
    for query in ["until=0", "since=1700000000", "until=2026-11-22T10:00"]:
        assert (await admin.get(f"/stats?{query}")).status_code == 422, query
    assert (await admin.get("/admin/audit?until=0")).status_code == 422
    long_tag = {"tags": ["x" * 51]}
    assert (await admin.put(f"{file_url}/tags", json=long_tag)).status_code == 422


async def test_a_change_answers_with_its_own_time(client_for: ClientFor) -> None:
    owner = await client_for(Role.uploader)
    uploaded = (await owner.post("/upload", files={"file": ("a.txt", b"x")})).json()
    before = (await owner.get(f"/files/{uploaded['file_id']}")).json()["updated_at"]
    changed = await owner.patch(f"/files/{uploaded['file_id']}", json={"is_public": False})
    assert changed.status_code == 200
    assert changed.json()["updated_at"] > before
    after = (await owner.get(f"/files/{uploaded['file_id']}")).json()["updated_at"]
    assert changed.json()["updated_at"] == after


async def test_a_revoked_keys_role_cannot_change(client_for: ClientFor) -> None:
    admin = await client_for(Role.admin)
    key = (await admin.post("/admin/keys", json={"name": "old", "role": "viewer"})).json()
    await admin.delete(f"/admin/keys/{key['key_id']}")
    response = await admin.patch(f"/admin/keys/{key['key_id']}", json={"role": "uploader"})
    assert response.status_code == 409
    assert response.json()["detail"] == "This key is revoked: its role can no longer change."


async def test_a_wrong_delete_token_is_called_wrong(client: httpx.AsyncClient) -> None:
    uploaded = (await client.post("/upload", files={"file": ("a.txt", b"x")})).json()
    response = await client.delete(
        f"/files/{uploaded['file_id']}", headers={"X-Delete-Token": "not-the-token"}
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "The delete token is wrong: it is not this file's."
