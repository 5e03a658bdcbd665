"""Malware scanning against a real clamd (the `clamd` fixture: one signature, EICAR)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from filewallball.access.roles import Role
from filewallball.app import create_app
from filewallball.settings import Settings
from tests.conftest import EICAR, ClientFor, blob_keys, count_rows, partial_writes_left

pytestmark = pytest.mark.anyio


async def test_infected_upload_is_refused_and_nothing_is_kept(
    settings: Settings, clamd: str, database: Engine, client_for: ClientFor
) -> None:
    app = create_app(settings.model_copy(update={"clamav_address": clamd}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        infected = await http.post("/upload", files={"file": ("eicar.txt", EICAR)})
        # The signature in the middle of a file larger than one write batch.
        padded = b"a" * (3 * 1024 * 1024) + EICAR + b"b" * 1000
        hidden = await http.post("/upload", files={"file": ("big.bin", padded)})
        clean = await http.post("/upload", files={"file": ("fine.txt", b"just words")})
        health = await http.get("/health")
        stored = await blob_keys(app.state.fwb.storage)
        partial = await partial_writes_left(app.state.fwb.storage)
    assert infected.status_code == 422
    assert infected.headers["content-type"] == "application/problem+json"
    assert "Eicar-Test-Signature" in infected.json()["detail"]
    assert hidden.status_code == 422
    assert clean.status_code == 201
    assert health.json()["services"]["scanner"] == "ok"
    assert count_rows(database, "files") == 1
    assert len(stored) == 1
    assert partial == 0
    admin = await client_for(Role.admin)
    found = (await admin.get("/admin/audit", params={"action": "malware_found"})).json()
    assert found["total"] == 2


async def test_unreachable_scanner_fails_closed_unless_told_otherwise(
    settings: Settings, tmp_path: Path, storage_dir: Path, database: Engine
) -> None:
    nowhere = str(tmp_path / "no-clamd.sock")
    for fail_open, status in [(False, 503), (True, 201)]:
        app = create_app(
            settings.model_copy(update={"clamav_address": nowhere, "clamav_fail_open": fail_open})
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.post("/upload", files={"file": ("a.txt", b"x")})
                health = await http.get("/health")
        assert response.status_code == status
        assert health.json()["services"]["scanner"] == "unavailable"
    assert count_rows(database, "files") == 1
