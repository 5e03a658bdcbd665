"""The pages as HTTP answers: their CSP, no other origin, their asset budget and caching,
friendly HTML for missing files that follows the API's visibility rules, the language a
visitor reads, and the share link every upload answer now carries."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import Engine

from filewallball.access.roles import Role
from filewallball.settings import Settings
from filewallball.web import i18n, share
from filewallball.web.assets import STATIC, catalogue
from filewallball.web.pages import PAGE_CSP
from tests.conftest import ClientFor, change
from tests.test_server import MiB

pytestmark = pytest.mark.anyio
UNKNOWN = "00000000-0000-4000-8000-000000000000"
ASSET_BUDGET = 150 * 1024  # every byte a page loads, itself included
TUS_JS_CLIENT_SHA256 = "8cbb1b63fccc3bba0ae73ad1deb160ce046c3750851d0c3e94921ae3ef070eb8"


async def upload(client: httpx.AsyncClient, name: str = "notes.txt", data: bytes = b"hi\n") -> str:
    answer = await client.post("/upload", files={"file": (name, data)})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["file_id"])


async def pages(client: httpx.AsyncClient) -> list[str]:
    return ["/", "/browse", f"/s/{await upload(client)}", f"/s/{UNKNOWN}"]


async def test_every_page_allows_only_its_own_scripts_and_styles(client: httpx.AsyncClient) -> None:
    for path in await pages(client):
        answer = await client.get(path)
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["content-security-policy"] == PAGE_CSP
        assert "'unsafe-inline'" not in PAGE_CSP and "'unsafe-eval'" not in PAGE_CSP
        # Nothing the CSP would block: no inline script that runs, no style attribute.
        assert not re.search(r"<script(?![^>]*(\bsrc=|type=\"application/json\"))", answer.text)
        assert " style=" not in answer.text and "<style" not in answer.text


async def test_no_page_loads_anything_from_another_origin(client: httpx.AsyncClient) -> None:
    for path in await pages(client):
        html = (await client.get(path)).text
        for url in re.findall(r'\b(?:src|href|action)="([^"]*)"', html):
            assert url.startswith(("/", "?", "#", "data:")), (path, url)


async def test_each_page_and_its_assets_stay_within_the_budget(client: httpx.AsyncClient) -> None:
    for path in await pages(client):
        html = (await client.get(path)).text
        total = len(html.encode())
        for url in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            total += len((await client.get(url)).content)
        # The scripts import each other: those count too.
        for name in re.findall(
            r'from "\./([\w-]+\.js)"',
            "".join((STATIC / "js" / f).read_text() for f in ("site.js", "upload.js", "browse.js")),
        ):
            if f"js/{name}" not in html:
                total += len(catalogue().assets[f"js/{name}"].body)
        assert total < ASSET_BUDGET, (path, total)


async def test_assets_are_cached_for_a_year_under_their_version_and_revalidated_otherwise(
    client: httpx.AsyncClient,
) -> None:
    current = catalogue().url("js/site.js")
    answer = await client.get(current)
    assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    again = await client.get(current, headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    old = await client.get("/static/000000000000/js/site.js")
    assert old.headers["cache-control"] == "public, no-cache"
    assert (await client.get(f"/static/{catalogue().version}/nothing.js")).status_code == 404


async def test_the_vendored_tus_client_is_the_pinned_release() -> None:
    vendor = STATIC / "vendor"
    manifest = json.loads((vendor / "manifest.json").read_text())["tus.min.js"]
    digest = hashlib.sha256((vendor / "tus.min.js").read_bytes()).hexdigest()
    assert digest == manifest["sha256"] == TUS_JS_CLIENT_SHA256
    # The same release the tests of the resumable protocol run.
    tested = Path(__file__).parents[1] / "resumable" / "js" / "package.json"
    assert json.loads(tested.read_text())["dependencies"]["tus-js-client"] == manifest["version"]


async def test_unknown_deleted_and_expired_files_get_friendly_html(
    client: httpx.AsyncClient, database: Engine
) -> None:
    token = (await client.post("/upload", files={"file": ("x.txt", b"x")})).json()
    await client.delete(
        f"/files/{token['file_id']}", headers={"X-Delete-Token": token["delete_token"]}
    )
    expired = (
        await client.post("/upload", files={"file": ("e.txt", b"e")}, data={"expires_in": "60"})
    ).json()["file_id"]
    await change(
        database, f"UPDATE files SET expires_at = '2000-01-01' WHERE file_uuid = '{expired}'"
    )

    for path, status in [
        (f"/s/{UNKNOWN}", 404),
        ("/s/not-an-id", 404),
        (f"/s/{token['file_id']}", 404),
        (f"/s/{expired}", 410),
    ]:
        answer = await client.get(path)
        assert answer.status_code == status, path
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert "<h1>" in answer.text
        # The API says the same of each.
        assert (await client.get(f"/files/{path.rsplit('/', 1)[-1]}")).status_code == status


async def test_a_private_file_has_no_share_page_for_anyone_the_api_would_not_show_it_to(
    client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    owner = await client_for(Role.uploader)
    answer = await owner.post(
        "/upload", files={"file": ("p.txt", b"p")}, data={"is_public": "false"}
    )
    file_id = answer.json()["file_id"]

    assert (await client.get(f"/s/{file_id}")).status_code == 404
    assert (await client.get(f"/files/{file_id}")).status_code == 404
    # A request that carries the owner's key gets the page; a browser's page load carries
    # none, which is why the upload page offers no link to a private file's page.
    assert (await owner.get(f"/s/{file_id}")).status_code == 200


async def test_the_share_page_shows_a_file_and_escapes_everything_it_says(
    client: httpx.AsyncClient,
) -> None:
    name = "<img src=x onerror=alert(1)>.txt"
    file_id = await upload(client, name, b"<script>alert(1)</script>\n")
    html = (await client.get(f"/s/{file_id}")).text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f'href="/download/{file_id}"' in html
    assert f'src="/s/{file_id}/qr.svg"' in html


async def test_only_a_small_image_waiting_for_its_thumbnail_is_shown_whole(
    paused: FastAPI, http: httpx.AsyncClient
) -> None:
    refused = await upload(http, "refused.gif", b"GIF89a" + b"\xff" * 500)
    await paused.state.fwb.jobs.run_until_idle()  # the thumbnailer gives up on it
    # These two wait for their thumbnails: the app runs no job until told to.
    picture = io.BytesIO()
    Image.new("RGB", (40, 30)).save(picture, format="PNG")
    small = await upload(http, "small.png", picture.getvalue())
    large = await upload(
        http, "large.png", picture.getvalue() + bytes(share.ORIGINAL_PREVIEW_BYTES)
    )

    def preview_of(html: str, file_id: str) -> str:
        if f'src="/view/{file_id}"' in html:
            return "whole"
        if f'src="/thumbnails/{file_id}' in html:
            return "thumbnail"
        return "icon" if 'class="file-icon"' in html else "nothing"

    for file_id, status, expected in [
        (small, "pending", "whole"),
        (large, "pending", "icon"),
        (refused, "failed", "icon"),
    ]:
        assert (await http.get(f"/files/{file_id}")).json()["thumbnail_status"] == status
        html = (await http.get(f"/s/{file_id}")).text
        assert preview_of(html, file_id) == expected, file_id


async def test_the_share_page_says_how_many_downloads_are_left(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/upload", files={"file": ("a.txt", b"a")}, data={"max_downloads": "3"}
    )
    assert (await client.get(answer.json()["download_url"])).status_code == 200
    page = f"/s/{answer.json()['file_id']}"
    assert "<dt>Downloads left</dt><dd>2 of 3</dd>" in (await client.get(f"{page}?lang=en")).text
    assert "<dt>남은 다운로드</dt><dd>3회 중 2회</dd>" in (await client.get(f"{page}?lang=ko")).text
    unlimited = await client.post("/upload", files={"file": ("b.txt", b"b")})
    shown = (await client.get(f"/s/{unlimited.json()['file_id']}?lang=en")).text
    assert "<dt>Downloads left</dt>" not in shown


async def test_the_qr_code_is_an_svg_of_the_share_link(client: httpx.AsyncClient) -> None:
    answer = await client.get(f"/s/{UNKNOWN}/qr.svg")
    assert answer.headers["content-type"] == "image/svg+xml"
    assert answer.text.startswith("<svg")
    assert (await client.get("/s/nope/qr.svg")).status_code == 404


async def test_the_qr_code_follows_the_host_so_no_cache_keeps_it_for_ever(
    client: httpx.AsyncClient,
) -> None:
    here = await client.get(f"/s/{UNKNOWN}/qr.svg")
    elsewhere = await client.get(f"/s/{UNKNOWN}/qr.svg", headers={"Host": "files.example"})
    assert here.text != elsewhere.text  # without FWB_BASE_URL, the link names the Host
    assert here.headers["cache-control"] == "public, max-age=86400"
    assert "immutable" not in here.headers["cache-control"]
    assert "Host" in re.split(r",\s*", here.headers["vary"])


async def test_every_upload_answer_carries_the_share_link(client: httpx.AsyncClient) -> None:
    posted = (await client.post("/upload", files={"file": ("a.txt", b"a")})).json()
    assert posted["share_url"] == f"http://testserver/s/{posted['file_id']}"
    put = (await client.put("/upload/b.txt", content=b"b")).json()
    assert put["share_url"] == f"http://testserver/s/{put['file_id']}"
    created = await client.post(
        "/uploads",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "1",
            "Upload-Metadata": f"filename {base64.b64encode(b'c.txt').decode()}",
            "Content-Type": "application/offset+octet-stream",
        },
        content=b"c",
    )
    file_id = created.headers["X-File-Id"]
    assert created.headers["X-Share-Url"] == f"http://testserver/s/{file_id}"
    assert (await client.get(f"/files/{file_id}")).json()["share_url"].endswith(f"/s/{file_id}")


@pytest.mark.parametrize(
    ("accept_language", "cookie", "expected"),
    [
        ("ko-KR,ko;q=0.9,en-US;q=0.8", None, "ko"),
        ("en-US,en;q=0.9,ko;q=0.8", None, "en"),
        ("fr-FR, ko;q=0.5, en;q=0.4", None, "ko"),
        ("fr-FR", None, "en"),
        ("ko", "en", "en"),
    ],
)
async def test_the_page_speaks_the_visitors_language(
    client: httpx.AsyncClient, accept_language: str, cookie: str | None, expected: str
) -> None:
    cookies = {i18n.COOKIE: cookie} if cookie else {}
    client.cookies.update(cookies)
    answer = await client.get("/", headers={"Accept-Language": accept_language})
    assert f'<html lang="{expected}"' in answer.text
    assert answer.headers["content-language"] == expected
    heading = i18n.MESSAGES[expected]["upload.title"]  # type: ignore[index]
    assert f"<h1>{heading}</h1>" in answer.text


async def test_the_language_switch_is_remembered(client: httpx.AsyncClient) -> None:
    answer = await client.get("/browse?lang=ko", headers={"Accept-Language": "en"})
    assert '<html lang="ko"' in answer.text
    assert f"{i18n.COOKIE}=ko" in answer.headers["set-cookie"]


def test_both_languages_have_every_message() -> None:
    assert i18n.MESSAGES["ko"].keys() == i18n.MESSAGES["en"].keys()


def test_every_message_is_used_by_a_template_or_a_script() -> None:
    web = Path(i18n.__file__).parent
    sources = [
        *(web / "templates").glob("*.html"),
        *(STATIC / "js").glob("*.js"),
        web / "router.py",  # the expiry choices
    ]
    text = "\n".join(source.read_text() for source in sources)
    used = {key for key in i18n.MESSAGES["en"] if re.search(f"[\"'`]{re.escape(key)}[\"'`]", text)}
    # Keys made from a part: a missing page's reason, an error's status.
    assert "t(reason + '.title')" in text and "t(reason + '.text')" in text
    for reason in re.findall(r'reason="(\w+)"', (web / "router.py").read_text()):
        used |= {f"{reason}.title", f"{reason}.text"}
    assert "t(`error.${status}`)" in text
    known = re.search(r"const KNOWN = new Set\(\[([\d, ]+)\]\)", text)
    assert known is not None
    used |= {f"error.{status.strip()}" for status in known[1].split(",")}
    assert sorted(i18n.MESSAGES["en"].keys() - used) == []


async def test_the_pages_are_not_part_of_the_api_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [
        path for path in paths if path in {"/", "/browse"} or path.startswith(("/s/", "/static/"))
    ]


async def test_pages_open_even_where_anonymous_visitors_may_do_nothing(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    from filewallball.app import create_app

    public = await upload(client, "minutes.txt")
    closed = create_app(settings.model_copy(update={"anonymous_role": "none"}))
    async with closed.router.lifespan_context(closed):
        transport = httpx.ASGITransport(app=closed)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as visitor:
            home = await visitor.get("/")
            assert home.status_code == 200
            assert "key-required" in home.text  # says a key is needed to upload
            assert (await visitor.get(catalogue().url("css/site.css"))).status_code == 200
            # A share page shows no more than the API would: nothing, even of a public file.
            assert (await visitor.get(f"/files/{public}")).status_code == 401
            share = await visitor.get(f"/s/{public}")
            assert share.status_code == 401
            assert "minutes.txt" not in share.text
            assert i18n.MESSAGES["en"]["closed.title"] in share.text
            assert (await visitor.get("/files")).status_code == 401


def test_human_sizes() -> None:
    assert i18n.human_size(512, "en") == "512 bytes"
    assert i18n.human_size(512, "ko") == "512 바이트"
    assert i18n.human_size(3 * MiB // 2, "en") == "1.5 MiB"
