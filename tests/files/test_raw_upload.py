"""PUT /upload/{filename}: the body is the file, as `curl -T` sends it. The same pipeline as
POST /upload, so the same answer and the same refusals."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from filewallball.access.roles import Role
from filewallball.storage import Storage
from tests.conftest import Backend, ClientFor, blob_keys, count_rows
from tests.test_server import start_server

pytestmark = pytest.mark.anyio


async def test_the_body_is_stored_under_the_name_in_the_path(
    client: httpx.AsyncClient,
) -> None:
    content = b"quarterly numbers\n" * 100
    put = await client.put("/upload/report%202026.txt", content=content)
    posted = await client.post("/upload", files={"file": ("other.txt", b"x")})

    assert put.status_code == 201, put.text
    assert put.json().keys() == posted.json().keys()  # answered as POST /upload answers
    body = put.json()
    assert body["filename"] == "report 2026.txt"
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["delete_token"]  # anonymous: a token to delete it with
    assert (await client.get(body["download_url"])).content == content


async def test_tags_and_visibility_come_from_the_query_or_headers(client_for: ClientFor) -> None:
    owner = await client_for(Role.uploader)
    by_query = await owner.put(
        "/upload/a.txt", params={"tags": "Reports,2026", "is_public": "false"}, content=b"a"
    )
    by_headers = await owner.put(
        "/upload/b.txt", headers={"X-Tags": "finance", "X-Is-Public": "false"}, content=b"b"
    )
    anonymous = await client_for(None)
    for answer, tags in ((by_query, ["2026", "reports"]), (by_headers, ["finance"])):
        assert answer.status_code == 201, answer.text
        details = (await owner.get(answer.json()["info_url"])).json()
        assert (details["tags"], details["is_public"]) == (tags, False)
        assert (await anonymous.get(answer.json()["info_url"])).status_code == 404


async def test_refusals_are_those_of_post_and_leave_nothing(
    client: httpx.AsyncClient, storage: Storage, database: Engine
) -> None:
    program = await client.put("/upload/setup.exe", content=b"MZ" + b"\x00" * 100)
    too_large = await client.put(
        "/upload/big.bin", content=b"x", headers={"Content-Length": str(2 * 1024**3)}
    )
    bad_visibility = await client.put("/upload/a.txt", params={"is_public": "maybe"}, content=b"a")
    # The query wins over the header, but a bad header is refused all the same.
    bad_header = await client.put(
        "/upload/a.txt",
        params={"is_public": "true"},
        headers={"X-Is-Public": "maybe"},
        content=b"a",
    )

    assert program.status_code == 415
    assert too_large.status_code == 413
    assert bad_visibility.status_code == bad_header.status_code == 400
    for refused in (program, too_large, bad_visibility, bad_header):
        assert refused.headers["content-type"] == "application/problem+json"
    assert await blob_keys(storage) == []
    assert count_rows(database, "files") == 0


@pytest.mark.server
def test_curl_upload_file_works_as_with_transfer_sh(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path
) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is a real client of ours: apt-get install curl"
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 4000)
    server = start_server(clean_backend, storage_dir, tmp_path)
    try:
        sent = subprocess.run(
            [curl, "-sS", "--fail", "-T", str(report), f"{server.url}/upload/?tags=reports"],
            capture_output=True,
            check=True,
            timeout=60,
        )
        answer = json.loads(sent.stdout)
        tags = httpx.get(answer["info_url"]).json()["tags"]
        downloaded = httpx.get(answer["download_url"]).content
    finally:
        server.stop()

    assert (answer["filename"], answer["mime_type"]) == ("report.pdf", "application/pdf")
    assert tags == ["reports"]
    assert downloaded == report.read_bytes()


async def test_only_those_who_may_upload_can_put(client_for: ClientFor) -> None:
    viewer = await client_for(Role.viewer)
    refused = await viewer.put("/upload/a.txt", content=b"x")
    stranger = await (await client_for(None)).put(
        "/upload/a.txt", content=b"x", headers={"Authorization": "Bearer fwb_nope_nope"}
    )
    assert (refused.status_code, stranger.status_code) == (403, 401)
    assert refused.headers["content-type"] == "application/problem+json"
