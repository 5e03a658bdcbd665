"""GET and HEAD /download/{id}: bytes, headers, ranges, validators, and the download log."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from filewallball.files.blob_keys import key_for
from filewallball.files.download import content_disposition
from filewallball.settings import Settings
from filewallball.storage import Storage
from tests.conftest import Backend, activity_written, blob_keys, count_rows
from tests.files.conftest import Uploader
from tests.test_server import start_server

pytestmark = pytest.mark.anyio

CONTENT = bytes(range(256)) * 40  # 10 240 bytes


@pytest.fixture(params=["from memory", "from storage"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Every download here is answered both ways: a small file sent from the process's memory,
    and, with no memory for it, read from storage as a large file is."""
    if request.param == "from memory":
        return settings
    return settings.model_copy(update={"small_file_cache_bytes": 0})


async def test_download_sends_the_bytes_with_full_headers(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    file = await uploaded("data.bin", CONTENT)
    response = await client.get(file["download_url"])

    assert response.status_code == 200
    assert response.content == CONTENT
    headers = response.headers
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-length"] == str(len(CONTENT))
    assert headers["content-disposition"] == (
        "attachment; filename=\"data.bin\"; filename*=UTF-8''data.bin"
    )
    assert headers["etag"] == f'"{hashlib.sha256(CONTENT).hexdigest()}"'
    assert parsedate_to_datetime(headers["last-modified"]) is not None
    assert headers["accept-ranges"] == "bytes"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "default-src 'none'; sandbox"


async def test_non_ascii_names_are_sent_in_utf_8_and_in_rfc_5987(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    file = await uploaded("보고서 최종; v2.txt", b"x")
    response = await client.get(file["download_url"])

    # The header's bytes are UTF-8: httpx reads them so, as curl and browsers do.
    raw = dict(response.headers.raw)[b"content-disposition"]
    assert raw.decode("utf-8") == (
        'attachment; filename="보고서 최종_ v2.txt"; '
        "filename*=UTF-8''%EB%B3%B4%EA%B3%A0%EC%84%9C%20%EC%B5%9C%EC%A2%85%3B%20v2.txt"
    )
    assert response.headers["content-disposition"] == raw.decode("utf-8")


@pytest.mark.parametrize(
    "name",
    [
        'a"; filename="evil.exe',
        'back\\slash\\"quote.txt',
        "line\r\nSet-Cookie: stolen=1.txt",
        "tab\tnul\x00del\x7fc1\x85.txt",
        "\u202etxt.exe",  # a right-to-left override would show this as "exe.txt"
        "line\u2028separator.txt",
        "semi;colon%41percent.txt",
        "",
    ],
)
def test_no_name_can_break_out_of_the_disposition(name: str) -> None:
    sent = content_disposition(name).encode("latin-1")  # as Starlette puts it on the wire

    text = sent.decode("utf-8")
    assert not any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in text)
    assert "\u202e" not in text and "\u2028" not in text
    kind, quoted, encoded = text.split("; ")
    assert kind == "attachment"
    assert quoted.startswith('filename="') and quoted.endswith('"')
    inside = quoted.removeprefix('filename="').removesuffix('"')
    assert inside and not set(inside) & set('"\\;%')
    assert encoded.startswith("filename*=UTF-8''")
    assert unquote(encoded.removeprefix("filename*=UTF-8''")) == name


def test_a_readable_name_is_sent_as_it_is() -> None:
    assert content_disposition("한글 파일.txt", "inline").encode("latin-1").decode() == (
        'inline; filename="한글 파일.txt"; '
        "filename*=UTF-8''%ED%95%9C%EA%B8%80%20%ED%8C%8C%EC%9D%BC.txt"
    )


async def test_head_answers_headers_without_a_body(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    file = await uploaded("data.bin", CONTENT)
    response = await client.head(file["download_url"])
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(CONTENT))
    assert response.content == b""


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-40", 10200, 10239),
        ("bytes=10200-999999", 10200, 10239),
        ("bytes=-99999", 0, 10239),  # a suffix longer than the file is the whole file
    ],
)
async def test_single_range_gives_206(
    client: httpx.AsyncClient, uploaded: Uploader, header: str, start: int, end: int
) -> None:
    file = await uploaded("data.bin", CONTENT)
    response = await client.get(file["download_url"], headers={"Range": header})

    assert response.status_code == 206
    assert response.content == CONTENT[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(CONTENT)}"
    assert response.headers["content-length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=20000-", "bytes=10240-10300", "bytes=-0"])
async def test_unsatisfiable_range_gives_416(
    client: httpx.AsyncClient, uploaded: Uploader, header: str
) -> None:
    file = await uploaded("data.bin", CONTENT)
    response = await client.get(file["download_url"], headers={"Range": header})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(CONTENT)}"
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-6",
        "bytes=" + ",".join(f"{i}-{i}" for i in range(2000)),
        "items=0-5",
        "bytes=9-3",
        "bytes=abc",
        "bytes=-",
    ],
)
async def test_multi_or_malformed_range_gets_the_whole_file(
    client: httpx.AsyncClient, uploaded: Uploader, header: str
) -> None:
    file = await uploaded("data.bin", CONTENT)
    response = await client.get(file["download_url"], headers={"Range": header})
    assert response.status_code == 200
    assert response.content == CONTENT


async def test_validators_answer_304(client: httpx.AsyncClient, uploaded: Uploader) -> None:
    file = await uploaded("data.bin", CONTENT)
    first = await client.get(file["download_url"])
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    by_etag = await client.get(file["download_url"], headers={"If-None-Match": etag})
    by_list = await client.get(file["download_url"], headers={"If-None-Match": f'"other", {etag}'})
    by_date = await client.get(file["download_url"], headers={"If-Modified-Since": modified})
    older = format_datetime(parsedate_to_datetime(modified) - timedelta(days=1), usegmt=True)
    changed_since = await client.get(file["download_url"], headers={"If-Modified-Since": older})
    other_etag = await client.get(file["download_url"], headers={"If-None-Match": '"nope"'})

    assert by_etag.status_code == by_list.status_code == by_date.status_code == 304
    assert by_etag.content == b""
    assert by_etag.headers["etag"] == etag
    assert by_etag.headers["last-modified"] == modified
    assert by_date.headers["last-modified"] == modified
    assert changed_since.status_code == other_etag.status_code == 200


async def test_if_range_serves_the_range_only_while_the_file_is_unchanged(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    file = await uploaded("data.bin", CONTENT)
    etag = (await client.head(file["download_url"])).headers["etag"]

    same = await client.get(file["download_url"], headers={"Range": "bytes=0-9", "If-Range": etag})
    stale = await client.get(
        file["download_url"], headers={"Range": "bytes=0-9", "If-Range": '"an-old-version"'}
    )
    assert same.status_code == 206 and same.content == CONTENT[:10]
    assert stale.status_code == 200 and stale.content == CONTENT


async def test_if_range_with_a_date_serves_the_range_only_for_that_date(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    file = await uploaded("data.bin", CONTENT)
    modified = (await client.head(file["download_url"])).headers["last-modified"]
    older = format_datetime(parsedate_to_datetime(modified) - timedelta(seconds=1), usegmt=True)

    same = await client.get(
        file["download_url"], headers={"Range": "bytes=0-9", "If-Range": modified}
    )
    stale = await client.get(
        file["download_url"], headers={"Range": "bytes=0-9", "If-Range": older}
    )
    assert same.status_code == 206 and same.content == CONTENT[:10]
    assert same.headers["content-range"] == f"bytes 0-9/{len(CONTENT)}"
    assert stale.status_code == 200 and stale.content == CONTENT


@pytest.mark.parametrize("header", ["bytes=0-0", "bytes=0-", "bytes=-1"])
async def test_any_range_of_an_empty_file_gives_416(
    client: httpx.AsyncClient, uploaded: Uploader, header: str
) -> None:
    file = await uploaded("empty.bin", b"")
    response = await client.get(file["download_url"], headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */0"
    whole = await client.get(file["download_url"])
    assert whole.status_code == 200 and whole.content == b""


async def test_head_with_a_range_answers_the_range_headers_without_a_body(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    file = await uploaded("data.bin", CONTENT)
    response = await client.head(file["download_url"], headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 100-199/{len(CONTENT)}"
    assert response.headers["content-length"] == "100"
    assert response.content == b""
    beyond = await client.head(file["download_url"], headers={"Range": "bytes=20000-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(CONTENT)}"


async def test_every_download_is_recorded(
    app: FastAPI, client: httpx.AsyncClient, uploaded: Uploader, database: Engine
) -> None:
    file = await uploaded("data.bin", CONTENT)
    await client.get(file["download_url"], headers={"X-Session-Id": "abc-123"})
    await client.get(file["download_url"], headers={"Range": "bytes=0-99"})
    await client.head(file["download_url"])
    await activity_written(app)

    with database.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT downloader_ip, download_method, status_code, bytes_downloaded, "
                "completed, session_id, download_duration_ms FROM file_downloads ORDER BY id"
            )
        ).all()
    assert [tuple(row[:6]) for row in rows] == [
        ("203.0.113.7", "GET", 200, len(CONTENT), 1, "abc-123"),
        ("203.0.113.7", "GET", 206, 100, 1, None),
        ("203.0.113.7", "HEAD", 200, 0, 1, None),
    ]
    assert all(row[6] >= 0 for row in rows)
    info = (await client.get(file["info_url"])).json()
    assert info["download_count"] == 2


async def test_download_count_is_right_under_concurrent_downloads(
    app: FastAPI, client: httpx.AsyncClient, uploaded: Uploader, database: Engine
) -> None:
    file = await uploaded("data.bin", CONTENT)
    responses = await asyncio.gather(*(client.get(file["download_url"]) for _ in range(25)))
    await activity_written(app)

    assert {response.status_code for response in responses} == {200}
    info = (await client.get(file["info_url"])).json()
    assert info["download_count"] == 25
    assert count_rows(database, "file_downloads") == 25


@pytest.mark.parametrize(
    "file_id",
    [
        "nope",
        "00000000-0000-0000-0000-000000000000",
        "3f1c2b9e-8d4a-4f7e-9a1b-2c3d4e5f6a7b",
        "%2e%2e%2fsecret",
    ],
)
async def test_unknown_or_malformed_id_is_404(client: httpx.AsyncClient, file_id: str) -> None:
    for path in ("download", "view", "files"):
        response = await client.get(f"/{path}/{file_id}")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


async def test_an_absurdly_long_range_is_ignored_not_a_crash(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    file = await uploaded("data.bin", CONTENT)
    response = await client.get(
        file["download_url"], headers={"Range": "bytes=" + "9" * 5000 + "-"}
    )
    assert response.status_code == 200
    assert response.content == CONTENT


async def test_a_missing_blob_is_an_error_before_any_header(
    client: httpx.AsyncClient, uploaded: Uploader, storage: Storage
) -> None:
    file = await uploaded("data.bin", CONTENT)
    for key in await blob_keys(storage):
        await storage.delete(key)
    response = await client.get(file["download_url"])
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_file_downloaded_before_answers_as_it_is_now(
    client: httpx.AsyncClient, uploaded: Uploader, storage: Storage
) -> None:
    kept, lost = await uploaded("kept.bin", CONTENT), await uploaded("lost.bin", CONTENT[::-1])
    for file in (kept, lost):
        assert (await client.get(file["download_url"])).status_code == 200

    token = {"X-Delete-Token": kept["delete_token"]}
    assert (await client.delete(f"/files/{kept['file_id']}", headers=token)).status_code == 204
    assert (await client.get(kept["download_url"])).status_code == 404
    # Whether the bytes are there is asked on every download, wherever they are sent from.
    await storage.delete(key_for(lost["file_id"]))
    assert (await client.get(lost["download_url"])).status_code == 503


@pytest.mark.parametrize(
    ("name", "content"),
    [("page.html", b"<script>alert(1)</script>"), ("img.svg", b"<svg onload='alert(1)'/>")],
)
async def test_markup_downloads_are_attachments_in_a_sandbox(
    client: httpx.AsyncClient, uploaded: Uploader, name: str, content: bytes
) -> None:
    file = await uploaded(name, content)
    response = await client.get(file["download_url"])
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.fixture(params=["granian", "uvicorn"])
def live_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The service in its own process, under each server it can run on, on a fresh SQLite
    instance: what goes over the wire does not depend on the database."""
    fresh = Backend("sqlite", f"sqlite:///{tmp_path / 'fresh.db'}", None)
    live = start_server(
        fresh, tmp_path / "files", tmp_path, server=request.param, FWB_AUTO_MIGRATE="true"
    )
    yield live.url
    live.stop()


# What `curl -OJ` saves, for a name as uploaded: readable, and harmless.
SAVED_AS = {
    "한글 파일.txt": "한글 파일.txt",
    'say "hi"; 100% sure.txt': "say _hi__ 100_ sure.txt",
    "line\r\nSet-Cookie: x=1.txt": "lineSet-Cookie: x=1.txt",
}


@pytest.mark.server
def test_curl_saves_downloads_under_their_own_readable_names(
    live_server: str, tmp_path: Path
) -> None:
    for number, (name, saved_as) in enumerate(SAVED_AS.items()):
        # The name in the URL, as `curl -T` sends it: a multipart client would escape quotes.
        content = f"{number}: 안녕하세요\n".encode()
        uploaded = httpx.put(f"{live_server}/upload/{quote(name, safe='')}", content=content)
        assert uploaded.status_code == 201, uploaded.text
        downloads = tmp_path / f"downloads-{number}"
        downloads.mkdir()

        curl = subprocess.run(
            ["curl", "-sS", "-OJ", "-D", "-", uploaded.json()["download_url"]],
            cwd=downloads,
            capture_output=True,
            check=True,
        )

        assert [path.name for path in downloads.iterdir()] == [saved_as]
        assert (downloads / saved_as).read_bytes() == content
        header_names = [line.split(b":")[0].lower() for line in curl.stdout.splitlines()]
        assert b"set-cookie" not in header_names
        assert header_names.count(b"content-disposition") == 1
        # httpx reads the header as UTF-8, and prefers filename*, as browsers do.
        disposition = httpx.get(uploaded.json()["download_url"]).headers["content-disposition"]
        assert disposition.startswith(f'attachment; filename="{saved_as}"; filename*=UTF-8')
