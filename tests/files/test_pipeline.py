"""The upload pipeline, driven as any transport drives it: a plain async iterator of chunks,
no HTTP. What it promises: a file is stored with its row, or nothing of it is kept, and every
attempt is logged."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.access.clamav import Scanner
from filewallball.access.roles import Actor, Role
from filewallball.errors import (
    BadRequest,
    Forbidden,
    MalwareFound,
    PayloadTooLarge,
    RequestTimeout,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from filewallball.files.schemas import StoredFile
from filewallball.files.upload.landing import (
    BATCHES_IN_ALL,
    LARGEST_BATCH,
    SMALLEST_BATCH,
    LandedBlob,
    Landings,
)
from filewallball.files.upload.pipeline import Pipeline
from filewallball.files.upload.recording import Received
from filewallball.request_context import Client
from filewallball.storage import Storage
from tests.conftest import EICAR, blob_keys, count_rows, partial_writes_left
from tests.files.conftest import files_refused

pytestmark = pytest.mark.anyio

ANONYMOUS = Actor(Role.uploader)
CLIENT = Client(ip="198.51.100.4", user_agent="test", session_id=None)


class Chunks:
    """A transport's bytes: handed out one chunk at a time, counting how many were taken."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.taken += 1
            yield chunk


def pipeline_of(app: FastAPI, **limits: float) -> Pipeline:
    state = app.state.fwb
    settings = state.settings
    return Pipeline(
        state.sessions,
        state.storage,
        state.cache,
        max_file_size=int(limits.get("max_file_size", settings.max_file_size)),
        idle_timeout=limits.get("idle_timeout", settings.upload_idle_timeout),
    )


async def send(
    pipeline: Pipeline,
    filename: str,
    chunks: AsyncIterable[bytes],
    *,
    at_least: int | None = None,
    tags: Sequence[str] = (),
    is_public: bool = True,
    landed: Callable[[LandedBlob], Awaitable[None]] | None = None,
) -> Received:
    """What every transport does: refuse a known size, admit the name, land the bytes as they
    arrive, record the file. `landed` looks at the blob between landing and recording."""
    async with pipeline.attempt(ANONYMOUS, CLIENT) as upload:
        upload.refuse_declared_over(at_least)
        admission = await upload.admit(filename, at_least=at_least)
        blob = await upload.land(admission, upload.body(chunks))
        if landed is not None:
            await landed(blob)
        return await upload.record(blob, tags=tags, is_public=is_public)


NOTHING = ([], 0, 0)


async def kept(storage: Storage, database: Engine) -> tuple[list[str], int, int]:
    """What an attempt left: committed blobs, unfinished writes, file rows."""
    return (
        await blob_keys(storage),
        await partial_writes_left(storage),
        count_rows(database, "files"),
    )


async def test_chunks_become_a_file_with_its_row_jobs_and_log(
    app: FastAPI, storage: Storage, database: Engine
) -> None:
    chunks = Chunks(b"%PDF-1.7\n", b"quarterly numbers\n" * 1000, b"%%EOF\n")
    content = b"".join(chunks.chunks)

    received = await send(
        pipeline_of(app), "report.pdf", chunks, at_least=len(content), tags=[" Reports ", "2026"]
    )

    stored = received.stored
    assert (stored.filename, stored.category, stored.mime_type) == (
        "report.pdf",
        "document",
        "application/pdf",
    )
    assert stored.size == len(content)
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert stored.tags == ("2026", "reports")
    assert stored.is_public is True
    assert received.delete_token is not None  # anonymous: the one way to delete it again
    assert b"".join([c async for c in storage.read(stored.storage_key)]) == content
    assert stored.md5 == hashlib.md5(content).hexdigest()
    assert count_rows(database, "jobs", "kind = 'md5'") == 0  # hashed as it came, not read back
    assert (
        count_rows(
            database,
            "file_uploads",
            f"upload_status = 'completed' AND bytes_received = {len(content)}",
        )
        == 1
    )


async def test_too_large_mid_stream_stops_reading_and_keeps_nothing(
    app: FastAPI, storage: Storage, database: Engine
) -> None:
    chunks = Chunks(*[b"y" * 50] * 10)

    with pytest.raises(PayloadTooLarge, match="100 bytes"):
        await send(pipeline_of(app, max_file_size=100), "big.bin", chunks)

    assert chunks.taken == 3  # the chunk that crossed the limit was the last one read
    assert await kept(storage, database) == NOTHING
    assert count_rows(database, "file_uploads", "error_reason = 'too_large'") == 1


async def test_a_known_size_over_the_limit_is_refused_before_admission(
    app: FastAPI, storage: Storage, database: Engine
) -> None:
    chunks = Chunks(b"x" * 101)
    with pytest.raises(PayloadTooLarge):
        await send(pipeline_of(app, max_file_size=100), "a.txt", chunks, at_least=101)

    assert chunks.taken == 0

    assert await kept(storage, database) == NOTHING
    assert count_rows(database, "file_uploads", "bytes_received = 0") == 1


async def test_refused_type_is_refused_by_its_name_before_any_byte(
    app: FastAPI, storage: Storage, database: Engine
) -> None:
    chunks = Chunks(b"MZ")
    with pytest.raises(UnsupportedMediaType):
        await send(pipeline_of(app), "setup.exe", chunks)

    assert chunks.taken == 0

    assert await kept(storage, database) == NOTHING
    assert count_rows(database, "file_uploads", "error_reason = 'refused_type'") == 1


async def test_content_contradicting_its_name_is_refused_while_streaming(
    app: FastAPI, storage: Storage, database: Engine
) -> None:
    with pytest.raises(UnsupportedMediaType, match="executable"):
        await send(pipeline_of(app), "photo.png", Chunks(b"MZ\x90\x00", b"\x00" * 9000))

    assert await kept(storage, database) == NOTHING


async def test_malware_verdict_keeps_nothing(
    app: FastAPI, clamd: str, storage: Storage, database: Engine
) -> None:
    pipeline = pipeline_of(app)
    scanned = Pipeline(
        pipeline.sessions,
        pipeline.storage,
        pipeline.cache,
        max_file_size=pipeline.max_file_size,
        idle_timeout=pipeline.idle_timeout,
        scanner=Scanner(clamd, timeout=30),
    )

    with pytest.raises(MalwareFound, match="Eicar-Test-Signature"):
        await send(scanned, "notes.txt", Chunks(b"harmless words ", EICAR))

    assert await kept(storage, database) == NOTHING
    assert count_rows(database, "file_uploads", "error_reason = 'malware'") == 1


async def test_row_that_does_not_commit_takes_its_committed_blob_with_it(
    app: FastAPI, storage: Storage, database: Engine
) -> None:
    seen: dict[str, list[str]] = {}

    async def look(blob: LandedBlob) -> None:
        seen["landed"], seen["stored"] = [blob.key], await blob_keys(storage)

    async with files_refused(database):
        with pytest.raises(ServiceUnavailable, match="recorded"):
            await send(pipeline_of(app), "notes.txt", Chunks(b"kept nowhere"), landed=look)

    assert seen["stored"] == seen["landed"]  # the blob was in place when its row was refused
    assert await kept(storage, database) == NOTHING
    assert count_rows(database, "file_uploads", "error_reason = 'database_error'") == 1


async def test_what_the_uploader_may_not_ask_for_undoes_the_landed_blob(
    app: FastAPI, storage: Storage, database: Engine
) -> None:
    with pytest.raises(Forbidden, match="Anonymous uploads are public"):
        await send(pipeline_of(app), "a.txt", Chunks(b"x"), is_public=False)
    with pytest.raises(BadRequest, match="At most 20 tags"):
        await send(pipeline_of(app), "a.txt", Chunks(b"x"), tags=[f"t{i}" for i in range(21)])

    assert await kept(storage, database) == NOTHING
    assert count_rows(database, "file_uploads", "error_reason = 'forbidden'") == 1
    assert count_rows(database, "file_uploads", "error_reason = 'bad_request'") == 1


async def test_a_transport_that_stops_sending_times_out(
    app: FastAPI, storage: Storage, database: Engine
) -> None:
    never = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield b"first part"
        await never.wait()
        yield b"never sent"

    with pytest.raises(RequestTimeout):
        await send(pipeline_of(app, idle_timeout=0.2), "a.txt", stalls())

    assert await kept(storage, database) == NOTHING
    assert count_rows(database, "file_uploads", "bytes_received = 10") == 1


def numbered_blocks(count: int, size: int = 100_000) -> list[bytes]:
    """`count` chunks whose every one differs: a chunk stored twice, dropped or out of its
    place changes the file."""
    return [number.to_bytes(4, "big") * (size // 4) for number in range(count)]


async def test_a_file_of_many_batches_is_stored_whole_and_in_order(
    app: FastAPI, storage: Storage
) -> None:
    chunks = Chunks(*numbered_blocks(60))  # 6 MB: one batch is stored while the next arrives
    content = b"".join(chunks.chunks)

    received = await send(pipeline_of(app), "blocks.bin", chunks)

    assert received.stored.sha256 == hashlib.sha256(content).hexdigest()
    assert b"".join([c async for c in storage.read(received.stored.storage_key)]) == content


async def test_a_transport_that_breaks_after_some_batches_keeps_nothing(
    app: FastAPI, storage: Storage, database: Engine
) -> None:
    async def breaks() -> AsyncIterator[bytes]:
        for block in numbered_blocks(35):  # past three batches, one of them being stored
            yield block
        raise OSError("connection reset by peer")

    with pytest.raises(ServiceUnavailable):
        await send(pipeline_of(app), "blocks.bin", breaks())

    assert await kept(storage, database) == NOTHING


def test_batches_share_a_fixed_amount_between_the_files_landing_at_once() -> None:
    landings = Landings()
    sizes = {}
    for landing_now in (0, 1, 4, 8, 20, 1000):
        landings.now = landing_now
        sizes[landing_now] = landings.batch_bytes()

    assert sizes == {
        0: LARGEST_BATCH,
        1: LARGEST_BATCH,
        4: BATCHES_IN_ALL // 4,
        8: BATCHES_IN_ALL // 8,
        20: SMALLEST_BATCH,
        1000: SMALLEST_BATCH,
    }


async def test_what_an_attempt_records_with_the_file_commits_in_the_files_transaction(
    app: FastAPI, database: Engine
) -> None:
    seen: list[tuple[int, int]] = []

    async def audit_entry(session: AsyncSession, stored: StoredFile) -> None:
        # The row is there for this transaction, and for no one else until it commits.
        query = f"SELECT COUNT(*) FROM files WHERE file_uuid = '{stored.file_id}'"
        inside = (await session.execute(text(query))).scalar_one()
        seen.append((inside, count_rows(database, "files", f"file_uuid = '{stored.file_id}'")))

    pipeline = pipeline_of(app)
    async with pipeline.attempt(ANONYMOUS, CLIENT, recorded_with=audit_entry) as upload:
        admission = await upload.admit("a.txt")
        blob = await upload.land(admission, upload.body(Chunks(b"audited")))
        received = await upload.record(blob)

    assert seen == [(1, 0)]
    assert count_rows(database, "files", f"file_uuid = '{received.stored.file_id}'") == 1
