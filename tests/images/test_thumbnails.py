"""Thumbnails and image previews, on images made here: upright, stripped, limited, and never
a danger to the upload or the process."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image, UnidentifiedImageError
from sqlalchemy import Engine, text

from filewallball.app import create_app
from filewallball.images import decode
from filewallball.settings import Settings

pytestmark = pytest.mark.anyio


def jpeg(width: int, height: int, orientation: int | None = None) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, width // 2, height))  # left half blue: shows rotation
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make: must not survive into a thumbnail
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def png(width: int, height: int, mode: str = "L") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Small enough a pixel limit that a test image can exceed it."""
    return settings.model_copy(update={"thumbnail_max_pixels": 4_000_000})


async def upload(http: httpx.AsyncClient, name: str, content: bytes) -> dict[str, Any]:
    response = await http.post("/upload", files={"file": (name, content)})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def run_jobs(app: FastAPI) -> None:
    await app.state.fwb.jobs.run_until_idle()


async def test_thumbnails_are_upright_small_and_stripped(
    paused: FastAPI, http: httpx.AsyncClient
) -> None:
    # 800 x 400 stored sideways (EXIF orientation 6: rotate 90° clockwise to display).
    created = await upload(http, "photo.jpg", jpeg(800, 400, orientation=6))
    pending = await http.get(f"/thumbnails/{created['file_id']}")
    assert pending.status_code == 202
    assert pending.headers["content-type"] == "application/problem+json"

    await run_jobs(paused)

    info = (await http.get(created["info_url"])).json()
    assert info["thumbnail_status"] == "ready"
    assert (info["width"], info["height"], info["image_format"]) == (400, 800, "JPEG")
    assert info["thumbnail_url"] == f"http://t/thumbnails/{created['file_id']}"
    small = await http.get(info["thumbnail_url"], params={"size": "small"})
    medium = await http.get(info["thumbnail_url"], params={"size": "medium"})
    assert small.status_code == medium.status_code == 200
    assert small.headers["content-type"] == "image/webp"
    assert small.headers["cache-control"] == "public, no-cache"
    thumb = Image.open(io.BytesIO(small.content))
    assert thumb.size == (128, 256)
    assert thumb.getexif().get(0x010F) is None
    assert not thumb.info.get("exif")
    # Upright: the blue half (left of the stored image) is now on top.
    top, bottom = thumb.convert("RGB").getpixel((64, 10)), thumb.convert("RGB").getpixel((64, 245))
    assert top[2] > top[0] and bottom[0] > bottom[2]
    assert Image.open(io.BytesIO(medium.content)).size == (400, 800)  # never enlarged
    again = await http.get(info["thumbnail_url"], headers={"If-None-Match": small.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bomb.png", png(3000, 3000)),  # 9 MP against a 4 MP limit: a decompression bomb
        ("truncated.jpg", jpeg(600, 600)[:700]),
        ("garbage.gif", b"GIF89a" + b"\xff" * 500),
    ],
    ids=["bomb", "truncated", "corrupt"],
)
async def test_hostile_images_fail_their_thumbnail_not_the_upload(
    paused: FastAPI, http: httpx.AsyncClient, name: str, content: bytes
) -> None:
    created = await upload(http, name, content)
    await run_jobs(paused)
    info = (await http.get(created["info_url"])).json()
    assert info["thumbnail_status"] == "failed"
    assert info["thumbnail_url"] is None
    assert (await http.get(f"/thumbnails/{created['file_id']}")).status_code == 404
    assert (await http.get(created["download_url"])).content == content
    # The process is fine: the next image still gets its thumbnails.
    healthy = await upload(http, "ok.png", png(50, 20, "RGB"))
    await run_jobs(paused)
    assert (await http.get(healthy["info_url"])).json()["thumbnail_status"] == "ready"


@pytest.mark.parametrize("image_format", ["ICO", "PCX", "TGA"])
def test_the_decoder_refuses_formats_off_its_list(tmp_path: Path, image_format: str) -> None:
    source = tmp_path / "image"
    Image.new("RGB", (16, 16)).save(source, format=image_format)
    with pytest.raises(UnidentifiedImageError):
        decode.make_thumbnails(source, tmp_path, max_pixels=10_000)
    Image.new("RGB", (16, 16)).save(source, format="PNG")
    assert decode.make_thumbnails(source, tmp_path, max_pixels=10_000)["format"] == "PNG"


async def test_only_raster_types_get_thumbnails(paused: FastAPI, http: httpx.AsyncClient) -> None:
    icon = io.BytesIO()
    Image.new("RGB", (32, 32)).save(icon, format="ICO")
    created = await upload(http, "favicon.ico", icon.getvalue())
    text = await upload(http, "notes.txt", b"words")
    await run_jobs(paused)
    for file in (created, text):
        info = (await http.get(file["info_url"])).json()
        assert info["thumbnail_status"] == "none"
        assert (await http.get(f"/thumbnails/{file['file_id']}")).status_code == 404


async def test_view_shows_raster_images_inline_and_svg_as_text(http: httpx.AsyncClient) -> None:
    picture = await upload(http, "p.png", png(10, 10, "RGB"))
    drawing = await upload(http, "d.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    shown = await http.get(picture["view_url"])
    assert shown.status_code == 200
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["content-disposition"].startswith("inline;")
    assert shown.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert Image.open(io.BytesIO(shown.content)).size == (10, 10)
    svg = await http.get(drawing["view_url"])
    assert svg.headers["content-type"] == "text/plain; charset=utf-8"


async def test_thumbnail_size_must_be_small_or_medium(http: httpx.AsyncClient) -> None:
    picture = await upload(http, "p.png", png(10, 10, "RGB"))
    response = await http.get(f"/thumbnails/{picture['file_id']}", params={"size": "huge"})
    assert response.status_code == 422


async def test_a_decoder_that_takes_too_long_is_stopped(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"job_concurrency": 0, "thumbnail_timeout": 0.05}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            created = await upload(http, "slow.png", png(2000, 2000, "RGB"))
            await run_jobs(app)
            info = (await http.get(created["info_url"])).json()
    assert info["thumbnail_status"] == "failed"


async def test_a_job_that_keeps_losing_its_worker_fails_for_good(
    paused: FastAPI, http: httpx.AsyncClient, database: Engine
) -> None:
    created = await upload(http, "p.png", png(10, 10, "RGB"))
    with database.begin() as connection:
        # As if three workers in a row had died holding it.
        connection.execute(
            text(
                "UPDATE jobs SET state = 'running', attempts = 3, worker = 'gone', "
                "lease_until = :past WHERE kind = 'thumbnail'"
            ),
            {"past": datetime(2020, 1, 1)},
        )
    await run_jobs(paused)
    info = (await http.get(created["info_url"])).json()
    assert info["thumbnail_status"] == "failed"  # not "pending" for ever
    with database.connect() as connection:
        state = connection.execute(
            text("SELECT state, last_error FROM jobs WHERE kind = 'thumbnail'")
        ).one()
    assert tuple(state) == ("failed", "worker lost")
