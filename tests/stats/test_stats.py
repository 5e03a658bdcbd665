"""GET /stats: what happened, counted from the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from filewallball.access.roles import Role
from filewallball.app import create_app
from filewallball.settings import Settings
from tests.conftest import ClientFor

pytestmark = pytest.mark.anyio


async def test_admins_see_totals_days_top_files_clients_and_errors(
    client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    admin = await client_for(Role.admin)
    keyed = await client_for(Role.uploader, ip="192.0.2.20")
    popular = (await client.post("/upload", files={"file": ("popular.txt", b"12345")})).json()
    quiet = (
        await keyed.post("/upload", files={"file": ("quiet.png", b"\x89PNG\r\n\x1a\n" + bytes(10))})
    ).json()
    await client.post("/upload", files={"file": ("bad.exe", b"MZ")})
    await client.post(
        "/upload", content=b"junk", headers={"content-type": "multipart/form-data; boundary=z"}
    )
    for _ in range(3):
        await client.get(popular["download_url"])
    await keyed.get(quiet["download_url"])
    await client.get(popular["info_url"])

    stats = (await admin.get("/stats")).json()

    today = datetime.now(UTC).date()
    assert stats["until"] == today.isoformat()
    assert stats["since"] == (today - timedelta(days=29)).isoformat()
    assert stats["totals"] == {"files": 2, "bytes": 23, "uploads": 4, "downloads": 4, "views": 1}
    categories = {c["name"]: c for c in stats["categories"]}
    assert categories["text"]["file_count"] == 1
    assert categories["image"]["total_size"] == 18
    assert stats["per_day"] == [{"day": today.isoformat(), "uploads": 4, "downloads": 4}]
    assert stats["top_downloaded"][0] == {
        "file_id": popular["file_id"],
        "filename": "popular.txt",
        "downloads": 3,
    }
    clients = {c["client"]: c for c in stats["clients"]}
    assert clients["ip:203.0.113.7"]["downloads"] == 3
    assert clients["ip:203.0.113.7"]["bytes_downloaded"] == 15
    assert clients["ip:203.0.113.7"]["uploads"] == 3
    key_id = keyed.headers["Authorization"].split("_")[1]
    assert clients[f"key:{key_id}"]["uploads"] == 1
    assert {e["reason"]: e["count"] for e in stats["upload_errors"]} == {
        "refused_type": 1,
        "bad_request": 1,
    }
    assert stats["upload_success_rate"] == 0.5


async def test_a_range_without_activity(client_for: ClientFor) -> None:
    admin = await client_for(Role.admin)
    old = (await admin.get("/stats", params={"since": "2020-01-01", "until": "2020-01-31"})).json()
    assert old["totals"]["uploads"] == 0
    assert old["per_day"] == []
    assert old["upload_success_rate"] is None
    backwards = await admin.get("/stats", params={"since": "2020-02-01", "until": "2020-01-01"})
    too_long = await admin.get("/stats", params={"since": "2020-01-01", "until": "2022-01-01"})
    assert backwards.status_code == too_long.status_code == 400


async def test_others_get_nothing_or_the_public_summary(
    settings: Settings, client_for: ClientFor, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/stats")).status_code == 401
    assert (await (await client_for(Role.viewer)).get("/stats")).status_code == 403
    app = create_app(settings.model_copy(update={"public_stats": True}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            summary = (await http.get("/stats")).json()
    assert set(summary) == {"since", "until", "totals", "categories"}
