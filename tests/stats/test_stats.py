"""GET /stats: what happened, counted from the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from filewallball import rollup
from filewallball.access.roles import Role
from filewallball.app import create_app
from filewallball.settings import Settings
from filewallball.stats.repository import periods
from tests.conftest import ClientFor, activity_written

pytestmark = pytest.mark.anyio


async def test_admins_see_totals_days_top_files_clients_and_errors(
    app: FastAPI, client: httpx.AsyncClient, client_for: ClientFor
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
    await activity_written(app)

    stats = (await admin.get("/stats")).json()

    today = datetime.now(UTC).date()
    assert stats["until"] == today.isoformat()
    assert stats["since"] == (today - timedelta(days=29)).isoformat()
    assert stats["totals"] == {
        "files": 2,
        "bytes": 23,
        "uploads": 4,
        "downloads": 4,
        "views": 1,
        "bytes_saved": 0,  # no two files share their content
    }
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


async def test_concurrent_activity_is_counted_exactly(
    app: FastAPI, client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    admin = await client_for(Role.admin)
    uploaders = [await client_for(None, ip=f"198.51.100.{n}") for n in range(1, 6)]
    uploads = await asyncio.gather(
        *(
            uploader.post("/upload", files={"file": (f"f{n}.txt", b"abc")})
            for uploader in uploaders
            for n in range(2)
        )
    )
    file = uploads[0].json()
    downloads = await asyncio.gather(*(client.get(file["download_url"]) for _ in range(25)))
    assert {r.status_code for r in uploads} == {201}
    assert {r.status_code for r in downloads} == {200}
    await activity_written(app)

    stats = (await admin.get("/stats")).json()

    assert stats["totals"]["uploads"] == 10
    assert stats["totals"]["downloads"] == 25
    assert stats["clients"] == [
        {"client": "ip:203.0.113.7", "uploads": 0, "downloads": 25, "bytes_downloaded": 75},
        *(
            {"client": f"ip:198.51.100.{n}", "uploads": 2, "downloads": 0, "bytes_downloaded": 0}
            for n in range(1, 6)
        ),
    ]


async def test_head_and_not_modified_answers_are_not_downloads(
    app: FastAPI, client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    admin = await client_for(Role.admin)
    file = (await client.post("/upload", files={"file": ("a.txt", b"hello")})).json()
    first = await client.get(file["download_url"])
    await client.head(file["download_url"])
    await client.get(file["download_url"], headers={"If-None-Match": first.headers["ETag"]})
    await client.get(file["download_url"], headers={"Range": "bytes=0-1"})
    await activity_written(app)

    stats = (await admin.get("/stats")).json()

    assert stats["totals"]["downloads"] == 2
    assert stats["clients"][0]["bytes_downloaded"] == 7


async def test_a_range_counts_each_day_once_across_whole_months_and_loose_days(
    app: FastAPI, client_for: ClientFor
) -> None:
    admin = await client_for(Role.admin)
    # One download a day from 2025-01-10 to 2025-12-20 by one client, two by another on
    # the first of each month.
    first, last = date(2025, 1, 10), date(2025, 12, 20)
    async with app.state.fwb.sessions() as session:
        day = first
        while day <= last:
            usage = {"ip:198.51.100.1": (1, 1)}
            if day.day == 1:
                usage["key:k2"] = (2, 10)
            await rollup.count_reads(session, day, views=0, usage=usage)
            day += timedelta(days=1)
        await session.commit()

    async def usage(since: date, until: date) -> dict[str, int]:
        stats = (
            await admin.get("/stats", params={"since": str(since), "until": str(until)})
        ).json()
        assert stats["totals"]["downloads"] == sum(d["downloads"] for d in stats["per_day"])
        return {c["client"]: c["downloads"] for c in stats["clients"]}

    assert await usage(date(2025, 1, 1), date(2025, 12, 31)) == {
        "ip:198.51.100.1": (last - first).days + 1,
        "key:k2": 2 * 11,
    }
    assert await usage(date(2025, 2, 15), date(2025, 5, 14)) == {
        "ip:198.51.100.1": (date(2025, 5, 14) - date(2025, 2, 15)).days + 1,
        "key:k2": 2 * 3,
    }
    assert await usage(date(2025, 3, 2), date(2025, 3, 31)) == {"ip:198.51.100.1": 30}
    assert await usage(date(2025, 12, 21), date(2025, 12, 31)) == {}


@pytest.mark.parametrize(
    ("since", "until", "spans"),
    [
        ("2025-03-02", "2025-03-30", [("day", "2025-03-02", "2025-03-30")]),
        ("2025-03-01", "2025-03-31", [("month", "2025-03-01", "2025-03-01")]),
        (
            "2025-01-15",
            "2025-12-14",
            [
                ("month", "2025-02-01", "2025-11-01"),
                ("day", "2025-01-15", "2025-01-31"),
                ("day", "2025-12-01", "2025-12-14"),
            ],
        ),
        (
            "2024-02-01",
            "2024-03-05",
            [("month", "2024-02-01", "2024-02-01"), ("day", "2024-03-01", "2024-03-05")],
        ),
        ("2024-12-31", "2025-01-01", [("day", "2024-12-31", "2025-01-01")]),
    ],
)
def test_a_range_is_read_as_whole_months_and_the_days_around_them(
    since: str, until: str, spans: list[tuple[str, str, str]]
) -> None:
    got = periods(date.fromisoformat(since), date.fromisoformat(until))
    assert [(span, str(a), str(b)) for span, a, b in got] == spans
