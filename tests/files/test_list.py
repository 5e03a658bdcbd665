"""GET /files: newest first, paginated, filtered; deleted files never appear; a write shows in
every list at once, though each process keeps a page for a second."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from filewallball.access.roles import Role
from filewallball.cache.memory import MemoryCache
from filewallball.cache.passthrough import PassThroughCache
from filewallball.db import utcnow
from filewallball.files.listings import GENERATION_KEY, Listings, lists_changed
from filewallball.tag_names import MAX_TAGS
from tests.conftest import ClientFor
from tests.files.conftest import Uploader

pytestmark = pytest.mark.anyio


async def test_list_pages_newest_first(client: httpx.AsyncClient, uploaded: Uploader) -> None:
    names = [f"file{i}.txt" for i in range(5)]
    for name in names:
        await uploaded(name, name.encode())

    first = (await client.get("/files", params={"size": 2})).json()
    third = (await client.get("/files", params={"size": 2, "page": 3})).json()
    beyond = (await client.get("/files", params={"size": 2, "page": 9})).json()

    assert [item["filename"] for item in first["items"]] == ["file4.txt", "file3.txt"]
    assert (first["total"], first["page"], first["size"], first["pages"]) == (5, 1, 2, 3)
    assert [item["filename"] for item in third["items"]] == ["file0.txt"]
    assert beyond["items"] == [] and beyond["total"] == 5


async def test_default_page_size_is_20(client: httpx.AsyncClient) -> None:
    body = (await client.get("/files")).json()
    assert body == {"items": [], "total": 0, "page": 1, "size": 20, "pages": 0}


@pytest.mark.parametrize(
    "params",
    [
        {"size": 0},
        {"size": 101},
        {"page": 0},
        {"size": "x"},
        {"q": "x" * 256},
        {"tag": [f"t{n}" for n in range(MAX_TAGS + 1)]},
    ],
)
async def test_out_of_range_paging_and_filters_are_422_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, object]
) -> None:
    response = await client.get("/files", params=params)  # type: ignore[arg-type]
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert [error["loc"] for error in problem["errors"]] == [["query", *params]]


async def test_filters_by_category_extension_tag_and_name(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    await uploaded("Holiday.txt", b"a", tags="trip,2026")
    await uploaded("budget.csv", b"a,b", tags="money")
    await uploaded("holiday_100%.md", b"#", tags="trip")

    async def names(**params: str | list[str]) -> list[str]:
        body = (await client.get("/files", params=params)).json()
        return sorted(item["filename"] for item in body["items"])

    assert await names(category="text") == ["Holiday.txt", "budget.csv", "holiday_100%.md"]
    assert await names(extension="csv") == ["budget.csv"]
    assert await names(extension=".CSV") == ["budget.csv"]
    assert await names(tag="trip") == ["Holiday.txt", "holiday_100%.md"]
    assert await names(tag="TRIP") == ["Holiday.txt", "holiday_100%.md"]
    assert await names(tag=["trip", "2026"]) == ["Holiday.txt"]  # every tag given
    assert await names(q="holiday") == ["Holiday.txt", "holiday_100%.md"]
    assert await names(q="100%") == ["holiday_100%.md"]
    assert await names(q="_1") == ["holiday_100%.md"]
    assert await names(category="video") == []


async def test_search_text_is_normalised_like_filenames(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    await uploaded("caf\u00e9.txt", b"composed")  # é as one character
    await uploaded("cafe\u0301s.txt", b"decomposed")  # e + combining acute, stored composed
    found = await client.get("/files?q=e%CC%81")  # e + combining acute, as a Mac may send it
    composed = await client.get("/files", params={"q": "\u00e9"})
    expected = ["caf\u00e9.txt", "caf\u00e9s.txt"]
    assert sorted(item["filename"] for item in found.json()["items"]) == expected
    assert sorted(item["filename"] for item in composed.json()["items"]) == expected


async def test_tags_are_normalised_like_filenames(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    await uploaded("a.txt", b"a", tags="cafe\u0301")  # e + combining acute
    await uploaded("b.txt", b"b", tags="caf\u00e9")  # é as one character
    for sent in ("caf\u00e9", "cafe\u0301"):
        found = (await client.get("/files", params={"tag": sent})).json()
        assert sorted(item["filename"] for item in found["items"]) == ["a.txt", "b.txt"]
    tags = (await client.get("/tags")).json()
    assert [entry["tag"] for entry in tags] == ["caf\u00e9"]


async def test_deleted_files_never_appear(client: httpx.AsyncClient, uploaded: Uploader) -> None:
    kept = await uploaded("kept.txt", b"1")
    gone = await uploaded("gone.txt", b"2", tags="x")
    await client.delete(gone["info_url"], headers={"X-Delete-Token": gone["delete_token"]})

    body = (await client.get("/files")).json()
    assert [item["file_id"] for item in body["items"]] == [kept["file_id"]]
    assert body["total"] == 1
    assert (await client.get("/files", params={"tag": "x"})).json()["total"] == 0


def listed(body: dict[str, Any]) -> list[str]:
    return [item["filename"] for item in body["items"]]


async def test_a_list_shows_every_write_at_once(client_for: ClientFor) -> None:
    # Each process keeps a page for a second; every write must reach it all the same.
    owner, visitor = await client_for(Role.uploader), await client_for(None)

    async def shown(**params: object) -> list[str]:
        return listed((await visitor.get("/files", params=params)).json())

    assert await shown() == []
    first = (await owner.post("/upload", files={"file": ("one.txt", b"1")})).json()
    assert await shown() == ["one.txt"]
    await owner.post("/upload", files={"file": ("two.txt", b"2")})
    assert await shown() == ["two.txt", "one.txt"]

    assert await shown(tag="kept") == []
    await owner.put(f"/files/{first['file_id']}/tags", json={"tags": ["kept"]})
    assert await shown(tag="kept") == ["one.txt"]

    await owner.patch(f"/files/{first['file_id']}", json={"is_public": False})
    assert await shown() == ["two.txt"]
    assert listed((await owner.get("/files")).json()) == ["two.txt", "one.txt"]

    limited = await owner.put("/upload/last.txt", params={"max_downloads": 1}, content=b"3")
    assert await shown() == ["last.txt", "two.txt"]
    assert (await visitor.get(f"/download/{limited.json()['file_id']}")).status_code == 200
    assert await shown() == ["two.txt"]

    await owner.delete(f"/files/{first['file_id']}")
    assert listed((await owner.get("/files")).json()) == ["two.txt"]


class Builds:
    """A page's builder that counts how often it is asked: it answers `body` after `delay`
    seconds, for a page that ends `lasts` seconds after it is built (None: when a write
    comes)."""

    def __init__(
        self, body: bytes = b"{}", *, delay: float = 0, lasts: float | None = None
    ) -> None:
        self.body, self.delay, self.lasts = body, delay, lasts
        self.count = 0

    async def __call__(self) -> tuple[bytes, datetime | None]:
        self.count += 1
        await asyncio.sleep(self.delay)
        ends = None if self.lasts is None else utcnow() + timedelta(seconds=self.lasts)
        return self.body, ends


async def test_clients_that_miss_together_wait_for_one_build() -> None:
    cache = MemoryCache(ttl=60)
    listings = Listings(cache)
    await lists_changed(cache)  # a generation to keep pages under
    build = Builds(b'{"items": []}', delay=0.05)

    pages = await asyncio.gather(*(listings.page("first", build) for _ in range(20)))
    assert pages == [b'{"items": []}'] * 20 and build.count == 1
    await listings.page("first", build)
    assert build.count == 1  # kept
    await lists_changed(MemoryCache(ttl=60))  # another cache: not this process's generation
    await listings.page("first", build)
    assert build.count == 1


async def test_a_kept_page_ends_when_its_first_file_expires() -> None:
    cache = MemoryCache(ttl=60)
    listings = Listings(cache)
    await lists_changed(cache)
    build = Builds(lasts=0.2)  # the first file it counts expires in 0.2 s

    await listings.page("first", build)
    await listings.page("first", build)
    assert build.count == 1
    await asyncio.sleep(0.3)  # the file expired; a page otherwise lives a second
    await listings.page("first", build)
    assert build.count == 2
    await lists_changed(cache)  # a write
    await listings.page("first", build)
    assert build.count == 3


async def test_without_a_cache_shared_by_the_workers_no_page_is_kept() -> None:
    listings = Listings(PassThroughCache())
    build = Builds()

    await listings.page("first", build)
    await listings.page("first", build)
    assert build.count == 2


async def test_a_lost_generation_is_begun_anew_and_no_page_from_before_returns() -> None:
    # The cache may lose the generation (evicted, flushed, Redis restarted): a page kept
    # under the old one must never be served again, whatever the timing.
    cache = MemoryCache(ttl=60)
    listings = Listings(cache)
    await lists_changed(cache)
    old = await listings.page("first", lambda: asyncio.sleep(0, (b"old", None)))
    await cache.delete(GENERATION_KEY)
    assert await listings.page("first", lambda: asyncio.sleep(0, (b"new", None))) == b"new"
    assert await listings.page("first", lambda: asyncio.sleep(0, (b"newer", None))) == b"newer"
    assert await listings.page("first", lambda: asyncio.sleep(0, (b"later", None))) == b"newer"
    assert old == b"old"


async def test_a_link_that_expires_leaves_every_page_and_total_on_time(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    # The expiring file is on page 2; page 1 is kept from before it expires. Timed from the
    # expiry the server set, not from the test's start: on a busy machine an upload may take
    # half a second.
    soon = await uploaded("soon.txt", b"1", expires_in="2")
    await uploaded("kept.txt", b"2")
    expires = datetime.fromisoformat(soon["expires_at"]).timestamp()
    await asyncio.sleep(max(0.0, expires - 0.5 - time.time()))
    before = (await client.get("/files", params={"size": 1})).json()
    await asyncio.sleep(max(0.0, expires + 0.3 - time.time()))
    after = (await client.get("/files", params={"size": 1})).json()

    assert listed(before) == ["kept.txt"] and before["total"] == 2
    assert listed(after) == ["kept.txt"] and after["total"] == 1


async def test_a_file_moved_to_another_category_is_listed_there_at_once(
    client_for: ClientFor,
) -> None:
    admin = await client_for(Role.admin)
    await admin.post("/upload", files={"file": ("notes.txt", b"x")})
    assert listed((await admin.get("/files", params={"category": "text"})).json()) == ["notes.txt"]
    assert listed((await admin.get("/files", params={"category": "document"})).json()) == []

    moved = await admin.put("/admin/extensions/txt", json={"category": "document"})
    try:
        assert moved.status_code == 200, moved.text
        assert listed((await admin.get("/files", params={"category": "text"})).json()) == []
        document = (await admin.get("/files", params={"category": "document"})).json()
        assert listed(document) == ["notes.txt"]
    finally:  # the extension rules outlive the test's files
        await admin.put("/admin/extensions/txt", json={"category": "text"})
