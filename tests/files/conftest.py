from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

Uploader = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def uploaded(client: httpx.AsyncClient) -> Uploader:
    """Upload a file and return the 201 body."""

    async def send(name: str = "a.txt", content: bytes = b"hello", **fields: str) -> dict[str, Any]:
        response = await client.post("/upload", files={"file": (name, content)}, data=fields)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    return send
