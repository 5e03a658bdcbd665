"""`is_public` as text: the form field, the query, `X-Is-Public` and tus's `Upload-Metadata` all
take pydantic's spellings of a boolean in any case, refuse anything else with a 400 that names
them, and say so in the OpenAPI document. Only a key may make a file private."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import Engine

from filewallball.access.roles import Role
from filewallball.storage import Storage
from tests.conftest import ClientFor, blob_keys, count_rows
from tests.resumable.conftest import TUS, metadata

pytestmark = pytest.mark.anyio

PUBLIC = ["true", "1", "yes", "on", "t", "y", "TRUE", "Yes", "On"]
PRIVATE = ["false", "0", "no", "off", "f", "n", "False", "NO", "oFf"]
REFUSED = ["maybe", "2", "truly", "nein"]

Send = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]


async def form(http: httpx.AsyncClient, value: str) -> httpx.Response:
    return await http.post("/upload", files={"file": ("a.txt", b"x")}, data={"is_public": value})


async def query(http: httpx.AsyncClient, value: str) -> httpx.Response:
    return await http.put("/upload/a.txt", params={"is_public": value}, content=b"x")


async def header(http: httpx.AsyncClient, value: str) -> httpx.Response:
    return await http.put("/upload/a.txt", headers={"X-Is-Public": value}, content=b"x")


async def tus(http: httpx.AsyncClient, value: str) -> httpx.Response:
    """A tus creation that brings the whole file, so that it becomes one at once."""
    return await http.post(
        "/uploads",
        headers={
            **TUS,
            "Upload-Length": "1",
            "Upload-Metadata": metadata(filename="a.txt", is_public=value),
            "Content-Type": "application/offset+octet-stream",
        },
        content=b"x",
    )


every_transport = pytest.mark.parametrize("send", [form, query, header, tus])


def file_id_of(answer: httpx.Response) -> str:
    file_id: str = answer.headers.get("x-file-id") or answer.json()["file_id"]
    return file_id


@every_transport
async def test_every_spelling_is_read_alike_on_every_transport(
    client_for: ClientFor, send: Send
) -> None:
    owner = await client_for(Role.uploader)
    for value in PUBLIC + PRIVATE:
        answer = await send(owner, value)
        assert answer.status_code == 201, (value, answer.text)
        details = (await owner.get(f"/files/{file_id_of(answer)}")).json()
        assert details["is_public"] is (value in PUBLIC), value


@every_transport
async def test_any_other_value_is_refused_naming_the_spellings(
    client_for: ClientFor, send: Send, storage: Storage, database: Engine
) -> None:
    owner = await client_for(Role.uploader)
    for value in REFUSED:
        answer = await send(owner, value)
        assert answer.status_code == 400, value
        problem = answer.json()
        assert problem["type"] == "/problems/bad-request"
        assert "true/false, 1/0, yes/no, on/off, t/f or y/n, in any case" in problem["detail"]
    assert await blob_keys(storage) == []
    assert count_rows(database, "files") == 0


@every_transport
async def test_an_anonymous_upload_may_not_be_private(
    client: httpx.AsyncClient, send: Send, database: Engine
) -> None:
    answer = await send(client, "off")

    assert answer.status_code == 403
    assert answer.json()["type"] == "/problems/forbidden"
    assert count_rows(database, "files") == 0


async def test_the_document_states_the_same_spellings_for_each_text_transport(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    post = spec["paths"]["/upload"]["post"]
    field = post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    put = spec["paths"]["/upload/{filename}"]["put"]
    parameters = {p["name"]: p["schema"] for p in put["parameters"]}
    schemas = [field["is_public"], parameters["is_public"], parameters["x-is-public"]]

    assert {schema["type"] for schema in schemas} == {"string"}
    patterns = {schema["pattern"] for schema in schemas}
    assert len(patterns) == 1
    pattern = re.compile(patterns.pop())
    assert all(pattern.search(value) for value in PUBLIC + PRIVATE)
    assert not any(pattern.search(value) for value in REFUSED)
