from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

import httpx
import pytest

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {**TUS, "Content-Type": "application/offset+octet-stream"}


def metadata(**values: str) -> str:
    """An Upload-Metadata header: each value base64-encoded, as tus asks."""
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


Begin = Callable[..., Awaitable[str]]


@pytest.fixture
def begin(client: httpx.AsyncClient) -> Begin:
    """Create an upload of `length` bytes named `filename`; its URL (path only)."""

    async def create(
        length: int,
        filename: str = "notes.txt",
        http: httpx.AsyncClient | None = None,
        **headers: str,
    ) -> str:
        sent = {**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(filename=filename)}
        answer = await (http or client).post("/uploads", headers={**sent, **headers})
        assert answer.status_code == 201, answer.text
        return httpx.URL(answer.headers["location"]).path

    return create


async def send(
    http: httpx.AsyncClient, url: str, offset: int, data: bytes, **headers: str
) -> httpx.Response:
    """PATCH `data` at `offset`."""
    return await http.patch(
        url, content=data, headers={**CHUNK, "Upload-Offset": str(offset), **headers}
    )
