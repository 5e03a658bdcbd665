"""GET /files: newest first, paginated, filtered; deleted files never appear."""

from __future__ import annotations

import httpx
import pytest

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


@pytest.mark.parametrize("params", [{"size": 0}, {"size": 101}, {"page": 0}, {"size": "x"}])
async def test_out_of_range_paging_is_422(
    client: httpx.AsyncClient, params: dict[str, object]
) -> None:
    response = await client.get("/files", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 422


async def test_filters_by_category_extension_tag_and_name(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    await uploaded("Holiday.txt", b"a", tags="trip,2026")
    await uploaded("budget.csv", b"a,b", tags="money")
    await uploaded("holiday_100%.md", b"#", tags="trip")

    async def names(**params: str) -> list[str]:
        body = (await client.get("/files", params=params)).json()
        return sorted(item["filename"] for item in body["items"])

    assert await names(category="text") == ["Holiday.txt", "budget.csv", "holiday_100%.md"]
    assert await names(extension="csv") == ["budget.csv"]
    assert await names(extension=".CSV") == ["budget.csv"]
    assert await names(tag="trip") == ["Holiday.txt", "holiday_100%.md"]
    assert await names(tag="TRIP") == ["Holiday.txt", "holiday_100%.md"]
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
