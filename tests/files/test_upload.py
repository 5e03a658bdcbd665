"""POST /upload: what a user gets back, and what is (and is not) kept."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine

from filewallball.access.roles import Role
from filewallball.settings import Settings
from filewallball.storage import Storage
from tests.conftest import ClientFor, blob_keys, change, count_rows, partial_writes_left
from tests.files.conftest import files_refused

pytestmark = pytest.mark.anyio

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def multipart(filename: bytes, content: bytes, boundary: bytes = b"b0undary") -> bytes:
    """A body built by hand, for names an HTTP client would escape before sending."""
    return (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"
        b"--" + boundary + b"--\r\n"
    )


async def upload(
    client: httpx.AsyncClient,
    name: str,
    content: bytes,
    content_type: str = "application/octet-stream",
    **fields: str,
) -> httpx.Response:
    return await client.post("/upload", files={"file": (name, content, content_type)}, data=fields)


async def test_upload_answers_201_with_id_metadata_and_working_links(
    client: httpx.AsyncClient,
) -> None:
    content = b"%PDF-1.7\n" + b"quarterly numbers\n" * 100
    response = await upload(client, "report.pdf", content)

    assert response.status_code == 201
    body = response.json()
    assert uuid.UUID(body["file_id"]).version == 4
    assert body["filename"] == "report.pdf"
    assert body["size"] == len(content)
    assert body["mime_type"] == "application/pdf"
    assert body["extension"] == "pdf"
    assert body["category"] == "document"
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    created = datetime.fromisoformat(body["created_at"])
    assert created.tzinfo is not None and created.utcoffset() == UTC.utcoffset(None)
    for kind, path in [("info", "files"), ("view", "view"), ("download", "download")]:
        assert body[f"{kind}_url"] == f"http://testserver/{path}/{body['file_id']}"

    downloaded = await client.get(body["download_url"])
    assert downloaded.status_code == 200
    assert downloaded.content == content
    info = await client.get(body["info_url"])
    assert info.json()["filename"] == "report.pdf"


async def test_links_use_the_configured_base_url(settings: Settings) -> None:
    from filewallball.app import create_app

    app = create_app(settings.model_copy(update={"base_url": "https://files.example.org/"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://internal") as http:
            body = (await upload(http, "a.txt", b"hello")).json()
    assert body["download_url"] == f"https://files.example.org/download/{body['file_id']}"


async def test_blob_is_stored_under_a_generated_key(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    body = (await upload(client, "../../etc/passwd.txt", b"not really")).json()

    assert body["filename"] == "passwd.txt"
    [key] = await blob_keys(storage)
    assert "passwd" not in key
    assert ".." not in key
    assert body["file_id"].replace("-", "") in key
    assert b"".join([chunk async for chunk in storage.read(key)]) == b"not really"
    # The local backend's owner-only modes: tests/storage/test_local.py.


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("사진 모음.txt", "사진 모음.txt"),
        ("  ..hidden..  ", "hidden"),
    ],
)
async def test_filename_is_reduced_to_a_safe_base_name(
    client: httpx.AsyncClient, sent: str, kept: str
) -> None:
    response = await upload(client, sent, b"x")
    assert response.status_code == 201
    assert response.json()["filename"] == kept


async def test_control_characters_never_reach_the_stored_name(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/upload",
        content=multipart(b"bad\x00na\x1bme\x7f\t.txt", b"x"),
        headers={"content-type": "multipart/form-data; boundary=b0undary"},
    )
    assert response.status_code == 201
    assert response.json()["filename"] == "badname.txt"


async def test_tags_and_privacy_fields_are_recorded(client_for: ClientFor) -> None:
    owner = await client_for(Role.uploader)
    body = (
        await upload(owner, "a.txt", b"x", tags=" Reports, 2026 ,reports,", is_public="false")
    ).json()
    info = (await owner.get(body["info_url"])).json()
    assert info["tags"] == ["2026", "reports"]
    assert info["is_public"] is False


async def test_the_md5_is_in_the_info_at_once(client: httpx.AsyncClient) -> None:
    body = (await upload(client, "a.txt", b"hash me")).json()

    info = (await client.get(body["info_url"])).json()

    assert info["md5"] == hashlib.md5(b"hash me").hexdigest()


async def test_every_upload_is_recorded(client: httpx.AsyncClient, database: Engine) -> None:
    await upload(client, "a.txt", b"x")
    await upload(client, "evil.exe", b"MZ")
    assert count_rows(database, "file_uploads", "upload_status = 'completed'") == 1
    assert (
        count_rows(
            database, "file_uploads", "upload_status = 'failed' AND error_reason = 'refused_type'"
        )
        == 1
    )


@pytest.mark.parametrize(
    "name", ["setup.exe", "lib.DLL", "run.bat", "shell.php", "page.aspx", "x.jar"]
)
async def test_executable_and_server_script_types_are_refused(
    client: httpx.AsyncClient, storage: Storage, database: Engine, name: str
) -> None:
    response = await upload(client, name, b"whatever")

    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert await blob_keys(storage) == []
    assert await partial_writes_left(storage) == 0
    assert count_rows(database, "files") == 0


async def test_windows_program_disguised_as_an_image_is_refused(
    client: httpx.AsyncClient, storage: Storage, database: Engine
) -> None:
    response = await upload(client, "photo.png", b"MZ\x90\x00" + b"\x00" * 200)

    assert response.status_code == 415
    assert "executable" in response.json()["detail"]
    assert await blob_keys(storage) == []
    assert await partial_writes_left(storage) == 0
    assert count_rows(database, "files") == 0


async def test_type_comes_from_content_not_from_the_client(client: httpx.AsyncClient) -> None:
    claimed_html = await upload(client, "pixel.png", PNG_1PX, content_type="text/html")
    assert claimed_html.json()["mime_type"] == "image/png"
    no_signature = await upload(client, "fake.jpg", b"just some text", content_type="image/jpeg")
    assert no_signature.json()["mime_type"] == "application/octet-stream"
    unknown_extension = await upload(client, "notes.qqq", b"plain words")
    assert unknown_extension.json()["mime_type"] == "text/plain"
    assert unknown_extension.json()["category"] == "other"


class PartialBody:
    """A request body that declares far more than it holds, and notes what the server pulled:
    a server that waited for the declared bytes would find the body cut short instead."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk


FILE_HEAD = b'--b\r\nContent-Disposition: form-data; name="file"; filename="NAME"\r\n\r\n'


async def send_declaring(
    http: httpx.AsyncClient, declared: int, body: PartialBody
) -> httpx.Response:
    return await http.post(
        "/upload",
        content=aiter(body),
        headers={
            "content-type": "multipart/form-data; boundary=b",
            "content-length": str(declared),
        },
    )


async def test_too_large_by_content_length_is_refused_before_reading(
    settings: Settings, database: Engine
) -> None:
    from filewallball.app import create_app

    app = create_app(settings.model_copy(update={"max_file_size": 1000}))
    body = PartialBody(FILE_HEAD.replace(b"NAME", b"big.bin"), b"x" * 10)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            declared_huge = await send_declaring(http, 10 * 1024 * 1024 * 1024, body)
            small_but_over = await upload(http, "over.bin", b"x" * 1001)
            at_limit = await upload(http, "ok.bin", b"x" * 1000)
        stored = await blob_keys(app.state.fwb.storage)
        partial = await partial_writes_left(app.state.fwb.storage)

    assert declared_huge.status_code == 413
    assert declared_huge.headers["content-type"] == "application/problem+json"
    assert body.pulled == 0  # not one byte of the body was read
    assert count_rows(database, "file_uploads", "error_reason = 'too_large'") == 2
    assert count_rows(database, "file_uploads", "bytes_received = 0") == 1
    assert small_but_over.status_code == 413  # counted while streaming
    assert at_limit.status_code == 201
    assert len(stored) == 1
    assert partial == 0
    assert count_rows(database, "files") == 1


CSV_LIMITED_TO_10_BYTES = "UPDATE file_extensions SET max_file_size = 10 WHERE extension = 'csv'"
CSV_UNLIMITED = "UPDATE file_extensions SET max_file_size = NULL WHERE extension = 'csv'"


async def test_extension_limit_applies_below_the_global_one(
    client: httpx.AsyncClient, database: Engine
) -> None:
    await change(database, CSV_LIMITED_TO_10_BYTES)
    try:
        response = await upload(client, "data.csv", b"a,b\n" * 10)
        assert response.status_code == 413
        assert "10 bytes" in response.json()["detail"]
    finally:
        await change(database, CSV_UNLIMITED)


async def test_extension_limit_refuses_a_declared_length_before_reading_the_file(
    client: httpx.AsyncClient, database: Engine
) -> None:
    await change(database, CSV_LIMITED_TO_10_BYTES)
    body = PartialBody(FILE_HEAD.replace(b"NAME", b"data.csv"), b"a,b\n")
    try:
        response = await send_declaring(client, 1024 * 1024, body)
    finally:
        await change(database, CSV_UNLIMITED)
    # Well under the global limit, but over the extension's: refused once the name is known.
    assert response.status_code == 413
    assert "10 bytes" in response.json()["detail"]
    assert body.pulled == 1  # the part's headers, not the file
    assert count_rows(database, "file_uploads", "error_reason = 'too_large'") == 1
    assert count_rows(database, "files") == 0


async def test_chunked_upload_without_content_length_is_counted(settings: Settings) -> None:
    from filewallball.app import create_app

    app = create_app(settings.model_copy(update={"max_file_size": 100}))

    async def body():  # type: ignore[no-untyped-def]
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
        for _ in range(10):
            yield b"y" * 50
        yield b"\r\n--b--\r\n"

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.post(
                "/upload",
                content=body(),
                headers={"content-type": "multipart/form-data; boundary=b"},
            )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/json", b'{"file": "x"}', 400),
        ("multipart/form-data", b"--x\r\n", 400),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
            400,
        ),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="file"; filename=""\r\n\r\n'
            b"abc\r\n--x--\r\n",
            400,
        ),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nabc',
            400,
        ),
        ("multipart/form-data; boundary=x", b"garbage without any boundary at all", 400),
    ],
    ids=["not-multipart", "no-boundary", "no-file-field", "empty-filename", "truncated", "garbage"],
)
async def test_malformed_requests_get_a_problem_not_a_crash(
    client: httpx.AsyncClient,
    storage: Storage,
    database: Engine,
    content_type: str,
    body: bytes,
    status: int,
) -> None:
    response = await client.post("/upload", content=body, headers={"content-type": content_type})

    assert response.status_code == status
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert set(problem) >= {"type", "title", "status", "detail"}
    assert await blob_keys(storage) == []
    assert await partial_writes_left(storage) == 0
    assert count_rows(database, "files") == 0


async def test_bad_form_field_values_leave_nothing_behind(
    client: httpx.AsyncClient, storage: Storage, database: Engine
) -> None:
    response = await upload(client, "a.txt", b"x", is_public="maybe")
    assert response.status_code == 400
    too_many_tags = await upload(client, "a.txt", b"x", tags=",".join(f"t{i}" for i in range(30)))
    assert too_many_tags.status_code == 400
    assert await blob_keys(storage) == []
    assert await partial_writes_left(storage) == 0
    assert count_rows(database, "files") == 0


async def test_database_refusing_the_row_leaves_no_blob_and_records_why(
    client: httpx.AsyncClient, storage: Storage, database: Engine
) -> None:
    # A real database error, raised after the blob is in place.
    async with files_refused(database):
        response = await upload(client, "notes.txt", b"kept nowhere" * 1000)

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The file could not be recorded. Try again."
    assert "today" not in response.text
    assert "INSERT" not in response.text.upper()
    assert count_rows(database, "files") == 0
    assert await blob_keys(storage) == []
    assert await partial_writes_left(storage) == 0
    assert count_rows(database, "file_uploads", "error_reason = 'database_error'") == 1


async def test_empty_file_is_accepted(client: httpx.AsyncClient) -> None:
    response = await upload(client, "empty.txt", b"")
    assert response.status_code == 201
    assert response.json()["size"] == 0
    assert (await client.get(response.json()["download_url"])).content == b""


async def test_concurrent_uploads_creating_the_same_tag_all_succeed(
    client: httpx.AsyncClient,
) -> None:
    responses = await asyncio.gather(
        # Four: as many uploads at once as one client may run.
        *(upload(client, f"{i}.txt", b"x", tags="brand-new") for i in range(4))
    )
    assert [r.status_code for r in responses] == [201] * 4
    listed = (await client.get("/files", params={"tag": "brand-new"})).json()
    assert listed["total"] == 4


async def test_tags_differing_only_by_accents_are_different_tags(client: httpx.AsyncClient) -> None:
    first = await upload(client, "a.txt", b"x", tags="resume")
    second = await upload(client, "b.txt", b"x", tags="résumé")
    assert first.status_code == second.status_code == 201
    assert (await client.get("/files", params={"tag": "résumé"})).json()["total"] == 1
