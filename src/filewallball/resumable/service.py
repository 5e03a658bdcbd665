"""The rules of resumable uploads: who may continue one, where its bytes go, and how it ends.

Each request that brings bytes writes them as one chunk, a blob of its own, and commits the
chunk's row with the offset it moves; a chunk whose request is cut off keeps what arrived,
unless a checksum was promised for the whole of it. When the last byte is in, the chunks are
read back in order through the upload pipeline, exactly as a `POST /upload` body would be, and
the upload is marked done in the transaction that records the file.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.access.roles import Actor
from filewallball.db import after_commit, transaction, utcnow
from filewallball.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    MalwareFound,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    UnsupportedMediaType,
)
from filewallball.files import retention
from filewallball.files.digests import Expected
from filewallball.files.schemas import StoredFile
from filewallball.files.upload.pipeline import Pipeline
from filewallball.files.upload.recording import AlsoRecord, Received
from filewallball.files.visibility import require_allowed
from filewallball.request_context import Client
from filewallball.resumable import chunks, repository
from filewallball.resumable.locks import UploadLocks
from filewallball.resumable.models import ResumableChunk, ResumableUpload
from filewallball.resumable.protocol import Concat, parse_metadata
from filewallball.storage import Storage, StorageError
from filewallball.tag_names import normalise_tags, parse_tags

log = structlog.get_logger(__name__)

SWEEP_BATCH = 200
MAX_PARTS = 100  # partial uploads one final upload may join
# What the pipeline may say of a whole upload that no retry of its last chunk can change.
REFUSED_FOR_GOOD = (BadRequest, UnsupportedMediaType, MalwareFound, PayloadTooLarge)


@dataclass(frozen=True, slots=True)
class Description:
    """What the client says of the file when it creates the upload."""

    filename: str | None
    tags: str | None
    is_public: bool
    metadata_header: str | None


@dataclass(frozen=True, slots=True)
class Progress:
    """Where an upload stands, and the file it became once it is done."""

    upload_id: str
    offset: int
    length: int
    expires_at: datetime
    kind: str
    metadata_header: str | None
    parts: tuple[str, ...] = ()
    file_id: str | None = None
    received: Received | None = None  # the file, to the request that finished it


def _progress(upload: ResumableUpload, received: Received | None = None) -> Progress:
    return Progress(
        upload.id,
        upload.upload_offset,
        upload.length,
        upload.expires_at,
        upload.kind,
        upload.metadata_header,
        parts=tuple((upload.parts or "").split()),
        file_id=upload.file_id,
        received=received,
    )


@dataclass(frozen=True, slots=True)
class Resumables:
    sessions: async_sessionmaker[AsyncSession]
    storage: Storage
    pipeline: Pipeline
    locks: UploadLocks
    expire_seconds: float
    max_per_client: int

    # ---- creation ----------------------------------------------------------------------------

    async def create(
        self,
        actor: Actor,
        client: str,
        *,
        length: int,
        description: Description,
        concat: Concat | None,
    ) -> Progress:
        """A new upload of `length` bytes owned by `actor`. PayloadTooLarge over the size limit,
        UnsupportedMediaType for a refused name, TooManyRequests past the client's cap."""
        partial = concat is not None and concat.partial
        description = await self._admit(actor, description, length, named=not partial)
        upload = self._new(actor, client, "partial" if partial else "single", length, description)
        async with transaction(self.sessions) as session:
            if await repository.unfinished(session, client, utcnow()) >= self.max_per_client:
                raise TooManyRequests(
                    f"You already have {self.max_per_client} unfinished uploads; finish or "
                    "delete one first.",
                    headers={"Retry-After": "60"},
                )
            session.add(upload)
        log.info("resumable_created", upload_id=upload.id, length=length, kind=upload.kind)
        return _progress(upload)

    async def _admit(
        self, actor: Actor, description: Description, length: int, *, named: bool
    ) -> Description:
        """Refuse now rather than after the last byte what would refuse the file once whole:
        its size, its name's type, its tags, its visibility. The description with the name
        as it will be stored."""
        if description.filename is None and named:
            raise BadRequest("Name the file: send Upload-Metadata with 'filename'.")
        self.pipeline.refuse_declared_over(length)
        if description.filename is not None:
            admission = await self.pipeline.admit(description.filename, at_least=length)
            description = replace(description, filename=admission.filename)
        normalise_tags(parse_tags(description.tags))
        require_allowed(description.is_public, actor)
        metadata = parse_metadata(description.metadata_header)
        retention.parse(
            metadata.get("expires_in"),
            metadata.get("max_downloads"),
            longest=self.pipeline.longest_expiry,
        )
        return description

    def _new(
        self, actor: Actor, client: str, kind: str, length: int, description: Description
    ) -> ResumableUpload:
        now = utcnow()
        return ResumableUpload(
            id=uuid.uuid4().hex,
            owner_key_id=actor.key_pk,
            client=client,
            kind=kind,
            length=length,
            upload_offset=0,
            metadata_header=description.metadata_header,
            filename=description.filename,
            tags=description.tags,
            is_public=description.is_public,
            created_at=now,
            expires_at=now + timedelta(seconds=self.expire_seconds),
        )

    async def concatenate(
        self, actor: Actor, client: Client, parts: Sequence[str], description: Description
    ) -> Progress:
        """The final upload made of the finished partial `parts`, in their order: it goes
        through the pipeline at once, and the partials are gone once the file is recorded."""
        if not 0 < len(parts) <= MAX_PARTS or len(set(parts)) != len(parts):
            raise BadRequest(f"Name 1 to {MAX_PARTS} partial uploads, each once.")
        for upload_id in parts:  # before any lock: a stranger's id holds nothing up
            await self._owned(actor, upload_id)
        async with AsyncExitStack() as held:
            for upload_id in sorted(parts):  # always in one order: no two requests deadlock
                await held.enter_async_context(self.locks.hold(upload_id))
            partials = [await self._owned(actor, upload_id) for upload_id in parts]
            for partial in partials:
                if partial.kind != "partial" or partial.upload_offset != partial.length:
                    raise BadRequest(f"Upload {partial.id} is not a finished partial upload.")
            length = sum(partial.length for partial in partials)
            description = await self._admit(actor, description, length, named=True)
            async with transaction(self.sessions) as session:
                pieces = await repository.chunks(session, parts)
            final = self._new(actor, partials[0].client, "final", length, description)
            final.parts = " ".join(parts)

            async def settle(session: AsyncSession, stored: StoredFile) -> None:
                final.upload_offset, final.file_id = final.length, stored.file_id
                session.add(final)
                keys, removed = await repository.remove(session, parts)
                if removed != len(parts):  # another request used one of them meanwhile
                    raise Conflict("A partial upload was used or removed meanwhile.")
                after_commit(session, lambda: chunks.delete(self.storage, keys))

            received = await self._finish(actor, client, final, pieces, settle)
        return _progress(final, received)

    # ---- the bytes ---------------------------------------------------------------------------

    async def append(
        self,
        actor: Actor,
        client: Client,
        upload_id: str,
        *,
        offset: int,
        body: AsyncIterable[bytes],
        checksum: Expected | None,
    ) -> Progress:
        """Write `body` at `offset`. Conflict when the upload is elsewhere; ChecksumMismatch
        when the bytes lack `checksum` (then none of them count); the last byte finishes it."""
        upload = await self._owned(actor, upload_id)
        if upload.kind == "final":
            raise Forbidden("A final upload is made of its partial uploads: it takes no bytes.")
        async with self.locks.hold(upload_id):
            upload = await self._owned(actor, upload_id)  # as it is now that it is ours
            if offset != upload.upload_offset:
                raise Conflict(
                    f"The upload has {upload.upload_offset} bytes, not {offset}: ask for its "
                    "offset with HEAD and continue from there.",
                    headers={"Upload-Offset": str(upload.upload_offset)},
                )
            if upload.file_id is not None:
                return _progress(upload)  # done already: nothing more to take
            try:
                chunk, interrupted = await chunks.receive(self.storage, upload, body, checksum)
            except (StorageError, OSError) as exc:
                log.error("resumable_chunk_not_stored", upload_id=upload_id, error=str(exc))
                raise ServiceUnavailable("The bytes could not be stored. Try again.") from None
            end = upload.upload_offset + (chunk.size if chunk else 0)
            expires_at = utcnow() + timedelta(seconds=self.expire_seconds)
            if end == upload.length and upload.kind == "single":
                # Every byte is in: also after a body cut off past its last byte, and for an
                # empty file, which no chunk ever brings.
                return await self._finish_single(actor, client, upload, chunk, expires_at)
            if chunk is None:
                if interrupted is not None:
                    raise interrupted
                return _progress(upload)
            try:
                async with transaction(self.sessions) as session:
                    if not await repository.advance(
                        session, upload_id, chunk.start, end, expires_at=expires_at
                    ):
                        raise Conflict("Another request wrote these bytes first.")
                    session.add(chunk)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await chunks.delete(self.storage, [chunk.key])
                raise
            if interrupted is not None:
                log.info("resumable_interrupted", upload_id=upload_id, kept=chunk.size)
                raise interrupted
            upload.upload_offset, upload.expires_at = end, expires_at
            return _progress(upload)

    # ---- the end -----------------------------------------------------------------------------

    async def _finish_single(
        self,
        actor: Actor,
        client: Client,
        upload: ResumableUpload,
        last: ResumableChunk | None,
        expires_at: datetime,
    ) -> Progress:
        """Make the file of an upload whose last bytes are `last` (not yet recorded)."""
        fresh = [last.key] if last else []
        async with transaction(self.sessions) as session:
            pieces = [*await repository.chunks(session, [upload.id]), *([last] if last else [])]

        async def settle(session: AsyncSession, stored: StoredFile) -> None:
            changes = {"file_id": stored.file_id, "expires_at": expires_at}
            start = upload.upload_offset
            if not await repository.advance(session, upload.id, start, upload.length, **changes):
                raise Conflict("Another request finished this upload first.")
            keys = await repository.remove_chunks(session, [upload.id])
            after_commit(session, lambda: chunks.delete(self.storage, [*keys, *fresh]))

        try:
            received = await self._finish(actor, client, upload, pieces, settle)
        except REFUSED_FOR_GOOD:
            # The content itself was refused: sending it again cannot change that.
            with anyio.CancelScope(shield=True):
                await self._remove([upload.id], extra_keys=fresh)
            raise
        except BaseException:
            with anyio.CancelScope(shield=True):
                await chunks.delete(self.storage, fresh)
            raise
        upload.upload_offset, upload.file_id, upload.expires_at = (
            upload.length,
            received.stored.file_id,
            expires_at,
        )
        return _progress(upload, received)

    async def _finish(
        self,
        actor: Actor,
        client: Client,
        upload: ResumableUpload,
        pieces: Sequence[ResumableChunk],
        settle: AlsoRecord,
    ) -> Received:
        """Send the pieces through the upload pipeline as one file; `settle` commits with it."""
        if sum(piece.size for piece in pieces) != upload.length:
            log.error("resumable_chunks_missing", upload_id=upload.id)
            raise Conflict("Some of the upload's bytes are missing: delete it and start again.")
        async with self.pipeline.attempt(actor, client) as attempt:
            admission = await attempt.admit(upload.filename, at_least=upload.length)
            blob = await attempt.land(admission, attempt.body(chunks.read(self.storage, pieces)))
            metadata = parse_metadata(upload.metadata_header)
            received = await attempt.record(
                blob,
                tags=parse_tags(upload.tags),
                is_public=upload.is_public,
                expires_in=metadata.get("expires_in"),
                max_downloads=metadata.get("max_downloads"),
                also=settle,
            )
        log.info("resumable_finished", upload_id=upload.id, file_id=received.stored.file_id)
        return received

    # ---- reading and removing ----------------------------------------------------------------

    async def progress(self, actor: Actor, upload_id: str) -> Progress:
        return _progress(await self._owned(actor, upload_id))

    async def terminate(self, actor: Actor, upload_id: str) -> None:
        """Delete the upload and its bytes (not the file it became)."""
        await self._owned(actor, upload_id, expired_too=True)
        async with self.locks.hold(upload_id):
            await self._remove([upload_id])
        log.info("resumable_terminated", upload_id=upload_id)

    async def _owned(
        self, actor: Actor, upload_id: str, *, expired_too: bool = False
    ) -> ResumableUpload:
        """The upload, if `actor` created it: NotFound for another's (whose existence is not
        given away), Gone for an unfinished one past its expiry."""
        async with transaction(self.sessions) as session:
            upload = await repository.get(session, upload_id)
        if upload is None or upload.owner_key_id != actor.key_pk:
            raise NotFound("No upload has this id.")
        if not expired_too and upload.file_id is None and upload.expires_at <= utcnow():
            raise Gone("The upload expired before it was finished: start it again.")
        return upload

    async def _remove(self, upload_ids: Sequence[str], extra_keys: Sequence[str] = ()) -> None:
        async with transaction(self.sessions) as session:
            keys, _ = await repository.remove(session, upload_ids)
        await chunks.delete(self.storage, [*keys, *extra_keys])

    # ---- the sweep ---------------------------------------------------------------------------

    async def sweep(self, stale_seconds: float) -> int:
        """Remove expired uploads with their chunks, and chunk blobs older than `stale_seconds`
        whose upload is gone. Returns how many blobs went."""
        removed = 0
        while True:
            async with transaction(self.sessions) as session:
                ids = await repository.expired(session, utcnow(), SWEEP_BATCH)
                keys, _ = await repository.remove(session, ids) if ids else ([], 0)
            await chunks.delete(self.storage, keys)
            removed += len(keys)
            if ids:
                log.info("resumable_expired", uploads=len(ids), chunks=len(keys))
            if len(ids) < SWEEP_BATCH:
                break
        # A chunk blob whose upload is gone is an orphan: its upload expired or finished while
        # a process that died was writing it. A blob of a live upload is left alone, even
        # without a row: it may be the last chunk of a file being made right now, and the
        # upload's own end takes it.
        cutoff = utcnow() - timedelta(seconds=stale_seconds)
        old = [
            blob.key
            async for blob in self.storage.list(chunks.KEY_PREFIX)
            if blob.modified < cutoff
        ]
        for start in range(0, len(old), SWEEP_BATCH):
            keys = old[start : start + SWEEP_BATCH]
            async with transaction(self.sessions) as session:
                live = await repository.existing(session, {chunks.upload_of(key) for key in keys})
            orphans = [key for key in keys if chunks.upload_of(key) not in live]
            await chunks.delete(self.storage, orphans)
            removed += len(orphans)
        return removed
