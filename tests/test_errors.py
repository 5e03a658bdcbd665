"""Every error is an RFC 9457 problem; nothing internal ever leaks."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Not Found"


async def test_wrong_method_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.put("/upload")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


async def test_every_response_carries_a_request_id_and_safety_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/files", headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    generated = await client.get("/files", headers={"X-Request-ID": "bad id\nwith newline"})
    assert generated.headers["x-request-id"] != "bad id\nwith newline"
    assert len(generated.headers["x-request-id"]) == 32


async def test_openapi_documents_every_endpoint_and_error(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    expected = {
        ("/upload", "post"),
        ("/files/{file_id}", "get"),
        ("/files/{file_id}", "delete"),
        ("/download/{file_id}", "get"),
        ("/download/{file_id}", "head"),
        ("/view/{file_id}", "get"),
        ("/files", "get"),
        ("/health", "get"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
        ("/metrics", "get"),
    }
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert expected <= documented
    for path, method in expected:
        operation = spec["paths"][path][method]
        assert operation.get("description"), f"{method} {path} has no description"
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            (content,) = response["content"].values()
            assert "example" in content or "schema" in content, f"{method} {path} {status}"
            if not path.startswith("/health"):  # health answers its own JSON, even when failing
                assert "application/problem+json" in response["content"], (
                    f"{method} {path} {status}"
                )
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
