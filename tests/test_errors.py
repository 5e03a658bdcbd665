"""Every error is an RFC 9457 problem; nothing internal ever leaks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from filewallball.admin.schemas import (
    AuditPage,
    ExtensionInfo,
    IssuedKeyInfo,
    KeyInfo,
    SettingInfo,
)
from filewallball.categories.schemas import Category
from filewallball.errors import PROBLEM_JSON, FileWallBallError, title_for
from filewallball.files.schemas import AnonymousUpload, FileDetails, FilePage, UploadedFile
from filewallball.stats.schemas import Stats, Summary
from filewallball.tags.schemas import TagCount, TagList

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
            # Health answers its own JSON, even when failing; every other error is a problem.
            if status.startswith(("4", "5")) and not path.startswith("/health"):
                assert "application/problem+json" in response["content"], (
                    f"{method} {path} {status}"
                )
    for path in ("/files/{file_id}", "/download/{file_id}", "/view/{file_id}", "/files"):
        assert "503" in spec["paths"][path]["get"]["responses"], f"GET {path} has no 503"
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


NO_BODY = {"204", "304"}


def _shows_an_example(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    if "example" in schema or "examples" in schema:
        return True
    if schema.get("format") == "binary":
        return True  # a file's own bytes: there is nothing to show
    if "$ref" in schema:
        return _shows_an_example(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if schema.get("type") == "array":
        return _shows_an_example(schema.get("items", {}), components)
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    return bool(alternatives) and all(_shows_an_example(s, components) for s in alternatives)


async def test_every_response_of_every_operation_has_an_example(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    components = spec["components"]["schemas"]
    missing = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                content = response.get("content")
                if not content:
                    # An answer told in its headers (tus's) documents them instead.
                    if status not in NO_BODY and not response.get("headers"):
                        missing.append(f"{method.upper()} {path} {status}: no content")
                    continue
                for media_type, media in content.items():
                    if not (
                        "example" in media
                        or "examples" in media
                        or _shows_an_example(media.get("schema", {}), components)
                    ):
                        missing.append(f"{method.upper()} {path} {status} {media_type}")
    assert missing == []


async def test_documented_problems_are_the_problems_we_send(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    sent_types = {f"/problems/{error.slug}" for error in FileWallBallError.__subclasses__()}
    sent_types |= {"/problems/validation-error", "/problems/internal-error"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                media = response.get("content", {}).get(PROBLEM_JSON)
                if media is None:
                    continue
                where = f"{method.upper()} {path} {status}"
                example = media["example"]
                assert example["status"] == int(status), where
                assert example["title"] == title_for(int(status)), where
                assert example["type"] in sent_types, where
                assert example["detail"] and "…" not in example["detail"], where


@pytest.mark.parametrize(
    "model",
    [
        UploadedFile,
        AnonymousUpload,
        FileDetails,
        FilePage,
        TagList,
        TagCount,
        Category,
        Summary,
        Stats,
        KeyInfo,
        IssuedKeyInfo,
        SettingInfo,
        ExtensionInfo,
        AuditPage,
    ],
)
def test_examples_are_complete_answers(model: type[BaseModel]) -> None:
    (example,) = model.model_json_schema()["examples"]
    assert model.model_validate(example).model_dump(mode="json", exclude_unset=True).keys() == (
        model.model_fields.keys()
    )


async def test_upload_documents_the_delete_token_of_anonymous_uploads(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    examples = spec["paths"]["/upload"]["post"]["responses"]["201"]["content"]["application/json"]
    assert "delete_token" in examples["examples"]["anonymous"]["value"]
    assert "delete_token" not in examples["examples"]["with_key"]["value"]
