"""Response headers: nothing we serve can be framed, sniffed, run, or split."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from filewallball.app import create_app
from filewallball.settings import Settings
from tests.files.test_upload import multipart

pytestmark = pytest.mark.anyio


async def test_every_response_carries_the_safety_headers(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/files"),
        await client.get("/nowhere"),
        await client.post("/upload", content=b"x"),
    ):
        headers = response.headers
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "camera=()" in headers["permissions-policy"]
        assert headers["cross-origin-resource-policy"] == "same-origin"
        assert "strict-transport-security" not in headers


async def test_hsts_when_asked(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"hsts": True}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        response = await http.get("/health/live")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_cors_only_for_listed_origins_and_without_credentials(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://app.example"]}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        listed = await http.get("/files", headers={"Origin": "https://app.example"})
        other = await http.get("/files", headers={"Origin": "https://evil.example"})
        preflight = await http.options(
            "/upload",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
    assert listed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-credentials" not in listed.headers
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200


async def test_no_origin_is_allowed_unless_listed(client: httpx.AsyncClient) -> None:
    origin = {"Origin": "https://app.example"}
    read = await client.get("/files", headers=origin)
    preflight = await client.options(
        "/upload", headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    assert read.status_code == 200  # answered, but a page elsewhere may not read it
    assert "access-control-allow-origin" not in read.headers
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.headers["content-type"] == "application/problem+json"


async def test_a_refused_cors_preflight_is_a_problem_with_every_header(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://app.example"]}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        wrong_origin = await http.options(
            "/upload",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        wrong_method = await http.options(
            "/upload",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "TRACE"},
        )
    for refused, what in ((wrong_origin, "origin"), (wrong_method, "method")):
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 403
        assert what in refused.json()["detail"]
        assert refused.headers["x-content-type-options"] == "nosniff"
        assert refused.headers["content-security-policy"].startswith("default-src 'none'")
        assert refused.headers["x-request-id"]
    assert "access-control-allow-origin" not in wrong_origin.headers


@pytest.mark.parametrize(
    "name",
    [
        b"evil\"; filename*=UTF-8''x.html; x=\"",
        b"a;b.txt",
        b"line\r\nSet-Cookie: stolen=1.txt",
        b'quote\\".txt',
    ],
)
async def test_filenames_cannot_inject_into_headers(client: httpx.AsyncClient, name: bytes) -> None:
    created = await client.post(
        "/upload",
        content=multipart(name, b"content"),
        headers={"content-type": "multipart/form-data; boundary=b0undary"},
    )
    assert created.status_code == 201, created.text
    response = await client.get(created.json()["download_url"])
    disposition = response.headers.get_list("content-disposition")
    assert len(disposition) == 1
    assert "set-cookie" not in response.headers
    value = disposition[0]
    assert "\r" not in value and "\n" not in value
    # Exactly the two parameters we write: the quoted fallback holds no quote or semicolon.
    assert value.count('filename="') == 1
    assert value.count("filename*=") == 1
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert ";" not in fallback
    assert value.startswith("attachment;")


# Keys are bearer tokens: no OAuth2 redirect page is served.
@pytest.mark.parametrize("page", ["/docs"])
async def test_the_docs_run_only_their_own_inline_script(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    allowed = allowed_scripts(response)
    assert "'unsafe-inline'" not in allowed
    assert "https:" not in allowed  # nothing from a CDN
    assert inline_scripts(response) <= allowed


def allowed_scripts(response: httpx.Response) -> set[str]:
    """The sources the page's policy lets scripts come from."""
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    return set(policy.get("script-src", "").split())


def inline_scripts(response: httpx.Response) -> set[str]:
    """The page's inline scripts, as the policy names them: by their hash."""
    scripts = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert scripts
    return {
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in scripts
    }


async def test_an_unexpected_error_is_a_bare_500_with_every_header(settings: Settings) -> None:
    app = create_app(settings)

    async def explode() -> None:
        raise RuntimeError("internal detail: /srv/secret/path")

    app.add_api_route("/explode", explode)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        response = await http.get("/explode", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/internal-error",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "Something went wrong on our side. It has been logged.",
    }
    assert response.headers["x-request-id"] == "trace-500"
    headers = response.headers
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "camera=()" in headers["permissions-policy"]
    assert headers["cross-origin-resource-policy"] == "same-origin"


async def test_behind_a_path_prefix_the_docs_still_run_their_own_inline_script(
    settings: Settings,
) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, root_path="/fwb")
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/fwb/docs")

    assert response.status_code == 200
    assert inline_scripts(response) <= allowed_scripts(response)
