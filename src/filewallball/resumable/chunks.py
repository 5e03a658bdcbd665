"""A resumable upload's bytes: each request's chunk is a blob of its own, under a key no other
write can take, so that two requests racing for one offset never overwrite each other's bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import aclosing

import anyio
import anyio.to_thread
import structlog
from starlette.requests import ClientDisconnect

from filewallball.errors import ChecksumMismatch, PayloadTooLarge, RequestTimeout
from filewallball.files.digests import Expected, Verifier
from filewallball.resumable.models import ResumableChunk, ResumableUpload
from filewallball.storage import Storage, StorageError

log = structlog.get_logger(__name__)

KEY_PREFIX = "resumable/"
WRITE_BATCH = 1024 * 1024  # bytes handed to the writer and the checksum at a time


def upload_of(key: str) -> str:
    """The id of the upload a chunk's key belongs to."""
    return key.removeprefix(KEY_PREFIX).split("/", 1)[0]


async def receive(
    storage: Storage,
    upload: ResumableUpload,
    body: AsyncIterable[bytes],
    checksum: Expected | None,
) -> tuple[ResumableChunk | None, BaseException | None]:
    """Store the body as a chunk at the upload's offset; None for an empty body. A body cut
    off by its client (or its idle timeout) keeps what arrived, and says why it ended."""
    start = upload.upload_offset
    room = upload.length - start
    key = f"{KEY_PREFIX}{upload.id}/{start:020d}-{uuid.uuid4().hex[:8]}"
    writer = storage.writer(key)
    verifier = Verifier([checksum] if checksum else [], mismatch=ChecksumMismatch)
    size = 0
    batch = bytearray()
    interrupted: BaseException | None = None

    async def flush() -> None:
        data = bytes(batch)
        batch.clear()
        await anyio.to_thread.run_sync(verifier.update, data)
        await writer.write(data)

    try:
        try:
            async for data in body:
                size += len(data)
                if size > room:
                    raise PayloadTooLarge(f"The upload has room for {room} more bytes, not {size}.")
                batch += data
                if len(batch) >= WRITE_BATCH:
                    await flush()
        except (ClientDisconnect, RequestTimeout) as exc:
            if checksum is not None:
                raise  # what arrived cannot be checked: none of it counts
            interrupted = exc
        await flush()
        verifier.verify()
        if size == 0:
            await writer.abort()
            return None, interrupted
        await writer.commit()
    except BaseException:
        with anyio.CancelScope(shield=True):
            await writer.abort()
            await delete(storage, [key])
        raise
    return ResumableChunk(upload_id=upload.id, start=start, size=size, key=key), interrupted


async def read(storage: Storage, pieces: Sequence[ResumableChunk]) -> AsyncIterator[bytes]:
    """The pieces' bytes, one after the other."""
    for piece in pieces:
        async with aclosing(storage.read(piece.key)) as data:
            async for block in data:
                yield block


async def delete(storage: Storage, keys: Sequence[str]) -> None:
    """Delete chunks' blobs; one that cannot be deleted now is left to the sweep."""
    for key in keys:
        try:
            await storage.delete(key)
        except (StorageError, OSError):
            log.warning("resumable_chunk_not_deleted", key=key)
