from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.conftest import change

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


@asynccontextmanager
async def files_refused(database: Engine) -> AsyncIterator[None]:
    """While inside, the database refuses every new file row: a real error, raised by a
    trigger, at the moment an upload's row is written."""
    async with inserts_refused(database, "files"):
        yield


@asynccontextmanager
async def inserts_refused(database: Engine, table: str) -> AsyncIterator[None]:
    """While inside, the database refuses every new row of `table`, with a trigger."""
    refuse, accept = refusal(database.dialect.name, table)
    await change(database, refuse)
    try:
        yield
    finally:
        await change(database, accept)


def refusal(dialect: str, table: str) -> tuple[str, str]:
    """The statements that make the database refuse new rows of `table`, and accept again."""
    if dialect == "sqlite":
        refuse = (
            f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'no rows in {table} today'); END"
        )
    else:
        refuse = (
            f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW "
            f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no rows in {table} today'"
        )
    return refuse, f"DROP TRIGGER refuse_{table}"
