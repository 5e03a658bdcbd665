"""tus 1.0.0 at /uploads/: an upload sent in chunks becomes a file through the same pipeline as
POST /upload, and every wrong step is refused as the protocol says, leaving nothing behind."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from filewallball.access.roles import Role
from filewallball.app import create_app
from filewallball.settings import Settings
from filewallball.storage import Storage
from tests.conftest import ClientFor, blob_keys, change, count_rows
from tests.resumable.conftest import CHUNK, TUS, Begin, metadata, send

pytestmark = pytest.mark.anyio

CONTENT = b"".join(b"line %05d of a long report\n" % n for n in range(4000))


async def test_options_advertises_the_protocol_and_its_extensions(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.options("/uploads")

    assert answer.status_code == 204
    assert answer.headers["tus-version"] == "1.0.0"
    assert answer.headers["tus-max-size"] == str(100 * 1024 * 1024)
    assert set(answer.headers["tus-extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
        "concatenation",
    }
    assert answer.headers["tus-checksum-algorithm"] == "sha1,sha256,md5"


async def test_an_upload_sent_in_chunks_becomes_the_file(
    client: httpx.AsyncClient, begin: Begin, storage: Storage
) -> None:
    url = await begin(
        len(CONTENT),
        "report 2026.txt",
        **{
            "Upload-Metadata": metadata(
                filename="report 2026.txt", tags="reports,2026", filetype="text/plain"
            )
        },
    )
    offsets = []
    for start in range(0, len(CONTENT), 40_000):
        answer = await send(client, url, start, CONTENT[start : start + 40_000])
        assert answer.status_code == 204, answer.text
        assert answer.headers["tus-resumable"] == "1.0.0"
        offsets.append(int(answer.headers["upload-offset"]))
    finished = answer

    assert offsets[-1] == len(CONTENT) and offsets == sorted(offsets)
    file_id = finished.headers["x-file-id"]
    assert finished.headers["x-download-url"].endswith(f"/download/{file_id}")
    assert finished.headers["x-delete-token"]  # anonymous: as POST /upload answers
    info = (await client.get(finished.headers["x-info-url"])).json()
    assert (info["filename"], info["size"], info["tags"]) == (
        "report 2026.txt",
        len(CONTENT),
        ["2026", "reports"],
    )
    assert info["sha256"] == hashlib.sha256(CONTENT).hexdigest()
    assert (await client.get(finished.headers["x-download-url"])).content == CONTENT
    described = (await client.get(url)).json()
    assert described["complete"] and described["file_id"] == file_id
    assert described["download_url"] == finished.headers["x-download-url"]
    # Once the file is stored, its chunks are gone: only the file's blob is left.
    assert [key for key in await blob_keys(storage) if key.startswith("resumable/")] == []


async def test_head_says_how_far_an_upload_got(client: httpx.AsyncClient, begin: Begin) -> None:
    url = await begin(len(CONTENT))
    await send(client, url, 0, CONTENT[:1000])

    head = await client.head(url, headers=TUS)

    assert head.status_code == 200
    assert head.headers["upload-offset"] == "1000"
    assert head.headers["upload-length"] == str(len(CONTENT))
    assert head.headers["cache-control"] == "no-store"
    assert head.headers["upload-metadata"] == metadata(filename="notes.txt")
    assert "GMT" in head.headers["upload-expires"]


async def test_creation_with_upload_takes_the_first_chunk(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/uploads",
        content=CONTENT,
        headers={
            **CHUNK,
            "Upload-Length": str(len(CONTENT)),
            "Upload-Metadata": metadata(filename="whole.txt"),
        },
    )

    assert answer.status_code == 201, answer.text
    assert answer.headers["upload-offset"] == str(len(CONTENT))
    assert (await client.get(answer.headers["x-download-url"])).content == CONTENT


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5"])
async def test_a_chunk_with_its_checksum_counts(
    client: httpx.AsyncClient, begin: Begin, algorithm: str
) -> None:
    url = await begin(len(CONTENT))
    digest = base64.b64encode(hashlib.new(algorithm, CONTENT).digest()).decode()

    answer = await send(client, url, 0, CONTENT, **{"Upload-Checksum": f"{algorithm} {digest}"})

    assert answer.status_code == 204, answer.text
    assert answer.headers["upload-offset"] == str(len(CONTENT))


async def test_a_chunk_that_lacks_its_checksum_counts_for_nothing(
    client: httpx.AsyncClient, begin: Begin, storage: Storage
) -> None:
    url = await begin(len(CONTENT))
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()

    refused = await send(client, url, 0, CONTENT[:5000], **{"Upload-Checksum": f"sha256 {wrong}"})
    unknown = await send(client, url, 0, CONTENT[:5000], **{"Upload-Checksum": "crc32 AAAA"})

    assert refused.status_code == 460
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["title"] == "Checksum Mismatch"
    assert unknown.status_code == 400
    assert (await client.head(url, headers=TUS)).headers["upload-offset"] == "0"
    assert await blob_keys(storage) == []


async def test_every_wrong_step_is_refused_as_tus_says(
    client: httpx.AsyncClient, begin: Begin
) -> None:
    url = await begin(len(CONTENT))
    await send(client, url, 0, CONTENT[:100])

    answers = {
        "wrong offset": await send(client, url, 50, CONTENT[50:150]),
        "no version": await client.head(url),
        "wrong version": await client.head(url, headers={"Tus-Resumable": "0.2.2"}),
        "too large": await client.post(
            "/uploads",
            headers={
                **TUS,
                "Upload-Length": str(200 * 1024 * 1024),
                "Upload-Metadata": metadata(filename="big.bin"),
            },
        ),
        "wrong type": await client.patch(
            url,
            content=b"x",
            headers={**TUS, "Upload-Offset": "100", "Content-Type": "text/plain"},
        ),
        "unknown id": await client.head("/uploads/0123456789abcdef0123456789abcdef", headers=TUS),
        "past the end": await send(client, url, 100, CONTENT + b"more"),
        "no length": await client.post(
            "/uploads", headers={**TUS, "Upload-Metadata": metadata(filename="a.txt")}
        ),
        "no name": await client.post("/uploads", headers={**TUS, "Upload-Length": "10"}),
        "refused type": await client.post(
            "/uploads",
            headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(filename="a.exe")},
        ),
        "bad metadata": await client.post(
            "/uploads",
            headers={**TUS, "Upload-Length": "10", "Upload-Metadata": "filename not-base64!"},
        ),
    }

    statuses = {case: answer.status_code for case, answer in answers.items()}
    assert statuses == {
        "wrong offset": 409,
        "no version": 412,
        "wrong version": 412,
        "too large": 413,
        "wrong type": 415,
        "unknown id": 404,
        "past the end": 413,
        "no length": 400,
        "no name": 400,
        "refused type": 415,
        "bad metadata": 400,
    }
    assert answers["wrong offset"].headers["upload-offset"] == "100"
    assert answers["no version"].headers["tus-version"] == "1.0.0"
    for case, answer in answers.items():
        if case != "unknown id" or answer.request.method != "HEAD":
            assert answer.headers["content-type"] == "application/problem+json", case
        assert answer.headers["tus-resumable"] == "1.0.0", case
    assert (await client.head(url, headers=TUS)).headers["upload-offset"] == "100"


async def test_an_expired_upload_is_gone_and_the_sweep_removes_it(
    app: FastAPI, client: httpx.AsyncClient, begin: Begin, database: Engine, storage: Storage
) -> None:
    url = await begin(len(CONTENT))
    await send(client, url, 0, CONTENT[:100])
    await change(database, "UPDATE resumable_uploads SET expires_at = '2020-01-01 00:00:00'")

    head = await client.head(url, headers=TUS)
    patch = await send(client, url, 100, CONTENT[100:200])
    removed = await app.state.fwb.resumables.sweep(stale_seconds=3600)
    after = await client.head(url, headers=TUS)

    assert (head.status_code, patch.status_code) == (410, 410)
    assert patch.headers["content-type"] == "application/problem+json"
    # The one chunk's blob, unless the periodic sweep, which the app runs as it starts (slower
    # on S3), met the expired upload first: either way it is gone.
    assert removed in {0, 1}
    assert after.status_code == 404
    assert count_rows(database, "resumable_uploads") == 0
    assert await blob_keys(storage) == []


async def test_termination_removes_the_upload_and_its_bytes(
    client: httpx.AsyncClient, begin: Begin, storage: Storage, database: Engine
) -> None:
    url = await begin(len(CONTENT))
    await send(client, url, 0, CONTENT[:100])

    deleted = await client.delete(url, headers=TUS)

    assert deleted.status_code == 204
    assert (await client.head(url, headers=TUS)).status_code == 404
    assert await blob_keys(storage) == []
    assert count_rows(database, "resumable_chunks") == 0


async def test_only_its_creator_may_see_continue_or_delete_an_upload(
    client_for: ClientFor, begin: Begin
) -> None:
    owner = await client_for(Role.uploader)
    stranger = await client_for(Role.uploader)
    anonymous = await client_for(None)
    url = await begin(len(CONTENT), http=owner)

    for other in (stranger, anonymous):
        refused = [
            await other.head(url, headers=TUS),
            await other.get(url),
            await send(other, url, 0, CONTENT),
            await other.delete(url, headers=TUS),
        ]
        # As if it did not exist: no other client learns that it does.
        assert [answer.status_code for answer in refused] == [404, 404, 404, 404]
    assert (await send(owner, url, 0, CONTENT)).status_code == 204


async def test_two_requests_writing_at_once_give_one_winner(
    client: httpx.AsyncClient, begin: Begin
) -> None:
    url = await begin(len(CONTENT))

    first, second = await asyncio.gather(
        send(client, url, 0, CONTENT[:60_000]), send(client, url, 0, CONTENT[:60_000])
    )

    assert sorted([first.status_code, second.status_code]) in ([204, 409], [204, 423])
    head = await client.head(url, headers=TUS)
    assert head.headers["upload-offset"] == "60000"
    finished = await send(client, url, 60_000, CONTENT[60_000:])
    assert (await client.get(finished.headers["x-download-url"])).content == CONTENT


async def test_partial_uploads_sent_at_once_concatenate_into_the_file(
    client: httpx.AsyncClient, storage: Storage, database: Engine
) -> None:
    pieces = [CONTENT[n : n + 30_000] for n in range(0, len(CONTENT), 30_000)]

    async def partial(piece: bytes) -> str:
        created = await client.post(
            "/uploads",
            headers={**TUS, "Upload-Length": str(len(piece)), "Upload-Concat": "partial"},
        )
        assert created.status_code == 201, created.text
        url = httpx.URL(created.headers["location"]).path
        assert (await send(client, url, 0, piece)).status_code == 204
        return url

    urls = await asyncio.gather(*(partial(piece) for piece in pieces))
    final = await client.post(
        "/uploads",
        headers={
            **TUS,
            "Upload-Concat": "final;" + " ".join(urls),
            "Upload-Metadata": metadata(filename="joined.txt"),
        },
    )

    assert final.status_code == 201, final.text
    assert final.headers["upload-length"] == str(len(CONTENT))
    assert final.headers["upload-concat"].startswith("final;/uploads/")
    downloaded = await client.get(final.headers["x-download-url"])
    assert downloaded.content == b"".join(pieces)
    for url in urls:  # consumed by the final upload
        assert (await client.head(url, headers=TUS)).status_code == 404
    assert count_rows(database, "resumable_chunks") == 0
    assert [key for key in await blob_keys(storage) if key.startswith("resumable/")] == []


async def test_an_unfinished_partial_cannot_be_concatenated(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/uploads", headers={**TUS, "Upload-Length": "10", "Upload-Concat": "partial"}
    )
    url = httpx.URL(created.headers["location"]).path

    final = await client.post(
        "/uploads",
        headers={
            **TUS,
            "Upload-Concat": f"final;{url}",
            "Upload-Metadata": metadata(filename="a.txt"),
        },
    )

    assert final.status_code == 400
    assert "not a finished partial upload" in final.json()["detail"]


async def test_content_the_pipeline_refuses_ends_the_upload(
    client: httpx.AsyncClient, begin: Begin, storage: Storage, database: Engine
) -> None:
    program = b"MZ" + b"\x00" * 5000  # a Windows program under a harmless name
    url = await begin(len(program), "notes.txt")

    refused = await send(client, url, 0, program)

    assert refused.status_code == 415
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.head(url, headers=TUS)).status_code == 404
    assert await blob_keys(storage) == []
    assert count_rows(database, "files") == 0


async def test_a_client_may_have_only_so_many_unfinished_uploads(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"resumable_max_per_client": 2}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            sent = {**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(filename="a.txt")}
            first, second, third = [await http.post("/uploads", headers=sent) for _ in range(3)]
            await http.delete(httpx.URL(first.headers["location"]).path, headers=TUS)
            again = await http.post("/uploads", headers=sent)

    assert [first.status_code, second.status_code, third.status_code] == [201, 201, 429]
    assert "2 unfinished uploads" in third.json()["detail"]
    assert again.status_code == 201  # a finished or deleted one frees its place


async def test_private_uploads_need_a_key(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/uploads",
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": metadata(filename="a.txt", is_public="false"),
        },
    )

    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"


async def test_a_page_on_another_origin_may_drive_an_upload(settings: Settings) -> None:
    origin = "https://app.example.org"
    app = create_app(settings.model_copy(update={"cors_origins": [origin]}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            preflight = await http.options(
                "/uploads/0123456789abcdef0123456789abcdef",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "PATCH",
                    "Access-Control-Request-Headers": "tus-resumable,upload-offset,"
                    "upload-checksum,content-type",
                },
            )
            created = await http.post(
                "/uploads",
                headers={
                    **TUS,
                    "Origin": origin,
                    "Upload-Length": "5",
                    "Upload-Metadata": metadata(filename="a.txt"),
                },
            )

    assert preflight.status_code == 200, preflight.text
    assert "PATCH" in preflight.headers["access-control-allow-methods"]
    exposed = {
        name.strip().lower() for name in created.headers["access-control-expose-headers"].split(",")
    }
    assert {
        "location",
        "upload-offset",
        "upload-length",
        "upload-expires",
        "upload-metadata",
        "tus-resumable",
        "tus-version",
        "x-file-id",
        "x-download-url",
    } <= exposed


async def test_chunks_count_against_their_own_rate_limit(settings: Settings) -> None:
    limits = {"rate_limit_uploads": "2/minute", "rate_limit_resumable": "3/minute"}
    app = create_app(settings.model_copy(update=limits))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.11", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            created = await http.post(
                "/uploads",
                headers={
                    **TUS,
                    "Upload-Length": "100",
                    "Upload-Metadata": metadata(filename="a.txt"),
                },
            )
            url = httpx.URL(created.headers["location"]).path
            chunks = [await send(http, url, n * 10, b"x" * 10) for n in range(4)]
            upload = await http.post("/upload", files={"file": ("b.txt", b"y")})

    # Many chunks make one file: they do not use up the uploads' limit, but have their own.
    assert [answer.status_code for answer in chunks] == [204, 204, 204, 429]
    assert chunks[3].headers["content-type"] == "application/problem+json"
    assert upload.status_code == 201  # the creation was the one upload counted before it


async def test_an_empty_file_is_stored_at_creation(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/uploads",
        headers={**TUS, "Upload-Length": "0", "Upload-Metadata": metadata(filename="empty.txt")},
    )

    # No PATCH will ever come for it: tus clients call it done once it exists.
    assert created.status_code == 201, created.text
    assert created.headers["upload-offset"] == "0"
    info = (await client.get(created.headers["x-info-url"])).json()
    assert (info["filename"], info["size"]) == ("empty.txt", 0)


async def test_head_names_the_file_once_it_exists_but_never_the_delete_token(
    client: httpx.AsyncClient, begin: Begin
) -> None:
    url = await begin(len(CONTENT))
    finished = await send(client, url, 0, CONTENT)

    head = await client.head(url, headers=TUS)

    assert head.headers["x-file-id"] == finished.headers["x-file-id"]
    assert head.headers["x-download-url"] == finished.headers["x-download-url"]
    assert "upload-expires" not in head.headers
    assert "x-delete-token" in finished.headers and "x-delete-token" not in head.headers


async def test_a_creation_whose_first_bytes_fail_still_gives_the_upload(
    client: httpx.AsyncClient,
) -> None:
    wrong = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    created = await client.post(
        "/uploads",
        content=CONTENT[:1000],
        headers={
            **CHUNK,
            "Upload-Length": str(len(CONTENT)),
            "Upload-Metadata": metadata(filename="a.txt"),
            "Upload-Checksum": f"sha1 {wrong}",
        },
    )

    # Created, with none of its bytes: the client goes on from offset 0 at its URL.
    assert created.status_code == 201, created.text
    assert created.headers["upload-offset"] == "0"
    url = httpx.URL(created.headers["location"]).path
    assert (await send(client, url, 0, CONTENT)).status_code == 204


async def test_a_long_name_is_cut_as_every_upload_s_is(client: httpx.AsyncClient) -> None:
    name = "n" * 400 + ".txt"
    created = await client.post(
        "/uploads",
        content=b"hello",
        headers={**CHUNK, "Upload-Length": "5", "Upload-Metadata": metadata(filename=name)},
    )

    assert created.status_code == 201, created.text
    stored = (await client.get(created.headers["x-info-url"])).json()["filename"]
    assert len(stored.encode()) <= 255 and stored.endswith(".txt")


async def test_a_final_upload_takes_only_the_caller_s_own_partials(
    client_for: ClientFor,
) -> None:
    owner, stranger = await client_for(Role.uploader), await client_for(Role.uploader)
    created = await owner.post(
        "/uploads", headers={**TUS, "Upload-Length": "3", "Upload-Concat": "partial"}
    )
    url = httpx.URL(created.headers["location"]).path
    await send(owner, url, 0, b"abc")
    final = {**TUS, "Upload-Metadata": metadata(filename="a.txt")}

    theirs = await stranger.post("/uploads", headers={**final, "Upload-Concat": f"final;{url}"})
    twice = await owner.post("/uploads", headers={**final, "Upload-Concat": f"final;{url} {url}"})

    assert theirs.status_code == 404
    assert twice.status_code == 400
    assert (await owner.head(url, headers=TUS)).status_code == 200  # still there, unused


async def test_the_sweep_spares_chunks_of_live_uploads(
    app: FastAPI, client: httpx.AsyncClient, begin: Begin, storage: Storage
) -> None:
    live = httpx.URL("http://t" + await begin(len(CONTENT))).path.rsplit("/", 1)[-1]
    for key in (f"resumable/{live}/00000000000000000000-dead", "resumable/gone/0-dead"):
        writer = storage.writer(key)
        await writer.write(b"bytes a killed process left")
        await writer.commit()

    removed = await app.state.fwb.resumables.sweep(stale_seconds=0)

    # A chunk without its row may be the last one of a file being made: only the upload's end
    # takes it. One whose upload is gone is an orphan.
    assert removed == 1
    assert await blob_keys(storage) == [f"resumable/{live}/00000000000000000000-dead"]
