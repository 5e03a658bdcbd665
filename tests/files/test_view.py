"""GET /view/{id}: a safe text preview."""

from __future__ import annotations

import asyncio
import sys
from types import CodeType, FrameType

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from filewallball.files.service import decode_text
from filewallball.settings import Settings
from tests.conftest import activity_written, count_rows, local_storage_only
from tests.files.conftest import Uploader

pytestmark = pytest.mark.anyio


async def test_text_is_previewed_as_plain_utf8(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    file = await uploaded("notes.md", "# 제목\n\nsome *text*\n".encode())
    response = await client.get(file["view_url"])

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "# 제목\n\nsome *text*\n"
    assert response.headers["x-preview-truncated"] == "false"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("page.html", b"<html><script>alert(document.cookie)</script></html>"),
        ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ],
)
async def test_markup_is_never_served_as_markup(
    client: httpx.AsyncClient, uploaded: Uploader, name: str, content: bytes
) -> None:
    file = await uploaded(name, content)
    response = await client.get(file["view_url"])

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.content == content


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("안녕하세요, 세계. 오늘은 좋은 날입니다.".encode("euc-kr"), "안녕하세요"),
        ("Grüße aus Köln, schöne Straße".encode("latin-1"), "Grüße"),
        (b"valid start \xff\xfe\xfd broken bytes", "valid start"),
    ],
)
async def test_other_encodings_are_detected_or_replaced(
    client: httpx.AsyncClient, uploaded: Uploader, content: bytes, expected: str
) -> None:
    file = await uploaded("legacy.txt", content)
    response = await client.get(file["view_url"])
    assert response.status_code == 200
    assert expected in response.text


async def test_long_text_is_cut_at_the_preview_limit(settings: Settings) -> None:
    from filewallball.app import create_app

    app = create_app(settings.model_copy(update={"preview_max_bytes": 1000}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            created = await http.post(
                "/upload", files={"file": ("long.txt", "가나다라".encode() * 500)}
            )
            response = await http.get(created.json()["view_url"])
    assert response.status_code == 200
    assert response.headers["x-preview-truncated"] == "true"
    assert len(response.content) <= 1000
    assert response.text.startswith("가나다라")
    assert "\ufffd" not in response.text  # a character cut at the limit is dropped, not garbled


@local_storage_only(
    "where the bytes live is no part of decoding them, and an 8 MiB part into moto's server on a "
    "loaded CI machine has been refused with 500s (the service answered 503, as it should)"
)
async def test_detecting_an_encoding_does_not_stall_other_requests(settings: Settings) -> None:
    from filewallball.app import create_app

    size = 8 * 1024 * 1024
    legacy = ("Grüße aus Köln, schöne Straße, café crème. " * 200_000).encode("cp1252")[:size]
    app = create_app(settings.model_copy(update={"preview_max_bytes": size}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            created = await http.post("/upload", files={"file": ("legacy.txt", legacy)})
            previewing = asyncio.create_task(http.get(created.json()["view_url"]))
            # The event loop gets on with other work while the detection is under way:
            # it finds `decode_text` running, which it could not if the loop ran it itself.
            caught_decoding = False
            while not previewing.done() and not caught_decoding:
                await asyncio.sleep(0.001)
                caught_decoding = _running_anywhere(decode_text.__code__)
            response = await previewing
    assert response.status_code == 200
    assert response.text.startswith("Grüße aus Köln")
    assert caught_decoding, "the preview was decoded without the event loop running meanwhile"


def _running_anywhere(code: CodeType) -> bool:
    """Whether some thread is in the middle of `code`, at any depth of its stack."""
    for frame in sys._current_frames().values():
        walking: FrameType | None = frame
        while walking is not None:
            if walking.f_code is code:
                return True
            walking = walking.f_back
    return False


async def test_binary_files_have_no_preview(client: httpx.AsyncClient, uploaded: Uploader) -> None:
    file = await uploaded("archive.zip", b"PK\x03\x04" + b"\x00" * 100)
    response = await client.get(file["view_url"])
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


async def test_views_are_recorded_by_type(
    app: FastAPI, client: httpx.AsyncClient, uploaded: Uploader, database: Engine
) -> None:
    file = await uploaded("a.txt", b"x")
    await client.get(file["view_url"])
    await client.get(file["info_url"])
    await activity_written(app)
    info = (await client.get(file["info_url"])).json()  # the two written, and this one
    await activity_written(app)

    assert count_rows(database, "file_views", "view_type = 'preview'") == 1
    assert count_rows(database, "file_views", "view_type = 'info'") == 2
    assert info["view_count"] == 3
