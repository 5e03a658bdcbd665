"""Receiving an upload: the body streams into storage while it is hashed, and the metadata row
commits only once the blob is durably in place. Any failure leaves neither row nor blob."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import anyio
import anyio.to_thread
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import ClientDisconnect, Request

from filewallball import metrics, rollup
from filewallball.access.clamav import Scanner, ScannerUnavailable, ScanStream
from filewallball.access.keys import hash_secret
from filewallball.access.roles import Actor
from filewallball.db import utcnow
from filewallball.deps import Client
from filewallball.errors import (
    BadRequest,
    FileWallBallError,
    MalwareFound,
    PayloadTooLarge,
    RequestTimeout,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from filewallball.files import repository
from filewallball.files._multipart import (
    Event,
    PartData,
    PartEnd,
    PartStart,
    boundary_of,
    read_events,
    read_field,
)
from filewallball.files.models import File, FileUpload
from filewallball.files.naming import (
    SNIFF_BYTES,
    extension_of,
    is_raster,
    resolve_mime_type,
    safe_filename,
)
from filewallball.files.schemas import StoredFile
from filewallball.files.service import snapshot
from filewallball.jobs import queue
from filewallball.storage import BlobWriter, Storage, StorageError

log = structlog.get_logger(__name__)

WRITE_BATCH = 1024 * 1024  # bytes handed to the writer thread at a time
MULTIPART_OVERHEAD = 64 * 1024  # room for boundaries, part headers and the small fields
MAX_TAGS = 20
MAX_TAG_LENGTH = 50


@dataclass(frozen=True, slots=True)
class Received:
    stored: StoredFile
    delete_token: str | None  # for anonymous uploads only


@dataclass(slots=True)
class _Blob:
    """A file part received into storage, not yet described in the database."""

    key: str
    file_id: str
    filename: str
    extension: str
    category_id: int
    mime_type: str
    size: int
    sha256: str


def normalise_tags(names: Iterable[str]) -> list[str]:
    """Tags as stored: whitespace trimmed and collapsed, case-folded, deduplicated, in order."""
    tags: list[str] = []
    for piece in names:
        tag = " ".join(piece.split()).casefold()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise BadRequest(f"A tag is longer than {MAX_TAG_LENGTH} characters.")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"At most {MAX_TAGS} tags per file.")
    return tags


def parse_tags(raw: str | None) -> list[str]:
    """The upload form's comma-separated `tags` field."""
    return normalise_tags(raw.split(",")) if raw else []


def parse_bool(raw: str | None, *, name: str, default: bool) -> bool:
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in {"true", "1", "yes", "on"}:
        return True
    if value in {"false", "0", "no", "off"}:
        return False
    raise BadRequest(f"The field {name!r} must be true or false.")


class Receiver:
    """One upload request, from the first byte to the committed row."""

    def __init__(
        self,
        request: Request,
        session: AsyncSession,
        sessions: async_sessionmaker[AsyncSession],
        storage: Storage,
        client: Client,
        actor: Actor,
        *,
        max_file_size: int,
        idle_timeout: float,
        scanner: Scanner | None = None,
        scan_fail_open: bool = False,
    ) -> None:
        self.request = request
        self.session = session
        self.sessions = sessions
        self.storage = storage
        self.client = client
        self.actor = actor
        self._who = rollup.client_label(actor, client.ip)
        self.max_file_size = max_file_size
        self.idle_timeout = idle_timeout
        self.scanner = scanner
        self.scan_fail_open = scan_fail_open
        self.started_at = utcnow()
        self.bytes_received = 0
        self._writer: BlobWriter | None = None
        self._committed_key: str | None = None
        self._scan: ScanStream | None = None

    async def receive(self) -> Received:
        started = time.perf_counter()
        try:
            received = await self._receive()
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await self._discard_blob()
                await self._record_failure(exc)
            if isinstance(exc, StorageError | OSError):
                log.error("upload_storage_failed", error=str(exc))
                raise ServiceUnavailable("The file could not be stored. Try again.") from None
            raise
        stored = received.stored
        metrics.UPLOADS.labels("success").inc()
        metrics.UPLOAD_BYTES.inc(stored.size)
        metrics.UPLOAD_DURATION.observe(time.perf_counter() - started)
        log.info("file_uploaded", file_id=stored.file_id, size=stored.size, mime=stored.mime_type)
        return received

    async def _receive(self) -> Received:
        # Refused before reading a byte when the client says how much is coming.
        self._refuse_declared_over(self.max_file_size)
        boundary = boundary_of(self.request.headers.get("content-type"))
        events = read_events(self._counted(self.request.stream()), boundary)
        fields: dict[str, str] = {}
        blob: _Blob | None = None
        async for event in events:
            if not isinstance(event, PartStart):
                raise BadRequest("The multipart body is malformed.")
            if event.filename is None:
                fields[event.name] = await read_field(events, event.name)
            elif event.name != "file":
                raise BadRequest(f"Unexpected file field {event.name!r}: send it as 'file'.")
            elif blob is not None:
                raise BadRequest("Send one file per upload.")
            else:
                blob = await self._receive_file(event, events)
        if blob is None:
            raise BadRequest("No file was sent: put it in a multipart field named 'file'.")
        tags = parse_tags(fields.get("tags"))
        is_public = parse_bool(fields.get("is_public"), name="is_public", default=True)
        if not is_public and self.actor.is_anonymous:
            raise BadRequest("Anonymous uploads are public: use an API key for a private file.")
        return await self._describe(blob, tags, is_public)

    async def _counted(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The body, counted, with a deadline for each piece: a client that stops sending
        does not hold a slot for ever."""
        chunks = aiter(body)
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise RequestTimeout(
                    f"No part of the upload arrived for {self.idle_timeout:g} seconds."
                ) from None
            self.bytes_received += len(chunk)
            yield chunk

    async def _open_scan(self) -> ScanStream | None:
        if self.scanner is None:
            return None
        try:
            self._scan = await self.scanner.open()
        except ScannerUnavailable:
            if not self.scan_fail_open:
                raise
            log.warning("upload_not_scanned", reason="scanner_unavailable")
        return self._scan

    async def _receive_file(self, part: PartStart, events: AsyncIterator[Event]) -> _Blob:
        filename = safe_filename(part.filename)
        extension = extension_of(filename)
        rule = await repository.extension_rule(self.session, extension) if extension else None
        if rule is not None and not rule.is_allowed:
            raise UnsupportedMediaType(f"Files of type .{extension} are not accepted.")
        limit = self.max_file_size
        if rule is not None and rule.max_file_size is not None:
            limit = min(limit, rule.max_file_size)
            # The extension is known now, before any of the file's bytes are read.
            self._refuse_declared_over(limit)
        if rule is not None:
            category_id = rule.category_id
        else:
            category_id = (await repository.category_named(self.session, "other")).id
        # Hand the connection back while the body streams: a slow client must not hold one of
        # the pool's few connections for minutes.
        await self.session.commit()

        file_id = str(uuid.uuid4())
        key = f"{file_id[:2]}/{file_id[2:4]}/{file_id.replace('-', '')}"
        self._writer = self.storage.writer(key)
        digest = hashlib.sha256()
        head = bytearray()
        batch = bytearray()
        size = 0
        mime_type: str | None = None

        scan = await self._open_scan()

        async def flush() -> None:
            data = bytes(batch)
            batch.clear()
            # Hashing and disk writes run in worker threads: the event loop keeps serving.
            await anyio.to_thread.run_sync(digest.update, data)
            assert self._writer is not None
            await self._writer.write(data)
            if scan is not None:
                await scan.feed(data)

        async for event in events:
            if isinstance(event, PartEnd):
                break
            if not isinstance(event, PartData):
                raise BadRequest("The multipart body is malformed.")
            size += len(event.data)
            if size > limit:
                raise PayloadTooLarge(self._too_large(limit))
            if mime_type is None and len(head) < SNIFF_BYTES:
                head += event.data[: SNIFF_BYTES - len(head)]
            if mime_type is None and len(head) >= SNIFF_BYTES:
                mime_type = resolve_mime_type(
                    extension, rule.mime_type if rule else None, bytes(head)
                )
            batch += event.data
            if len(batch) >= WRITE_BATCH:
                await flush()
        else:
            raise BadRequest("The multipart body ended in the middle of the file.")
        if mime_type is None:
            mime_type = resolve_mime_type(extension, rule.mime_type if rule else None, bytes(head))
        await flush()
        if scan is not None:
            await scan.verdict()  # raises MalwareFound: the blob never becomes visible
        # Known before the rename: a failure between rename and return still cleans up.
        self._committed_key = key
        await self._writer.commit()
        return _Blob(
            key=key,
            file_id=file_id,
            filename=filename,
            extension=extension,
            category_id=category_id,
            mime_type=mime_type,
            size=size,
            sha256=digest.hexdigest(),
        )

    async def _describe(self, blob: _Blob, tags: list[str], is_public: bool) -> Received:
        delete_token = secrets.token_urlsafe(24) if self.actor.is_anonymous else None
        file = File(
            file_uuid=blob.file_id,
            original_filename=blob.filename,
            stored_filename=blob.key.rsplit("/", 1)[-1],
            file_extension=blob.extension,
            mime_type=blob.mime_type,
            file_size=blob.size,
            sha256=blob.sha256,
            storage_path=blob.key,
            file_category_id=blob.category_id,
            is_public=is_public,
            owner_key_id=self.actor.key_pk,
            delete_token_hash=hash_secret(delete_token) if delete_token else None,
        )
        try:
            file.tags = await repository.tags_named(self.session, tags)
            if is_raster(blob.mime_type):
                file.thumbnail_status = "pending"
            self.session.add(file)
            await self.session.flush()
            # In the same transaction as the row: no file is ever without its pending work.
            job = {"file_pk": file.id, "file_id": blob.file_id, "key": blob.key}
            queue.enqueue(self.session, "md5", **job)
            if is_raster(blob.mime_type):
                queue.enqueue(self.session, "thumbnail", **job)
            await repository.record_upload(
                self.session, self._upload_row(file.id, "completed"), who=self._who
            )
            # Committed here rather than by the session dependency: if it fails, the blob
            # must go too.
            await self.session.commit()
            # From here the row describes the blob: whatever fails later, the blob stays.
            self._committed_key = None
            self._writer = None
        except SQLAlchemyError as exc:
            log.error("upload_metadata_failed", error=type(exc).__name__)
            raise ServiceUnavailable("The file could not be recorded. Try again.") from None
        await self.session.refresh(file, ["category", "tags"])
        return Received(snapshot(file), delete_token)

    def _upload_row(
        self, file_id: int | None, status: str, reason: str | None = None
    ) -> FileUpload:
        return FileUpload(
            file_id=file_id,
            upload_session_id=self.client.session_id,
            client_ip=self.client.ip,
            user_agent=self.client.user_agent,
            upload_status=status,
            error_reason=reason,
            bytes_received=self.bytes_received,
            upload_started_at=self.started_at,
            upload_completed_at=utcnow(),
        )

    def _refuse_declared_over(self, limit: int) -> None:
        """PayloadTooLarge when the Content-Length leaves no doubt that the file exceeds `limit`."""
        declared = self.request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            raise PayloadTooLarge(self._too_large(limit))

    def _too_large(self, limit: int) -> str:
        return f"The file is larger than the limit of {limit} bytes."

    async def _discard_blob(self) -> None:
        if self._scan is not None:
            self._scan.close()
        try:
            if self._writer is not None:
                await self._writer.abort()
            if self._committed_key is not None:
                await self.storage.delete(self._committed_key)
        except (StorageError, OSError):
            log.exception("upload_cleanup_failed", key=self._committed_key)

    async def _record_failure(self, exc: BaseException) -> None:
        reason = _failure_reason(exc)
        metrics.UPLOADS.labels(reason).inc()
        log.info("upload_failed", reason=reason, bytes_received=self.bytes_received)
        try:
            await self.session.rollback()
            async with self.sessions() as session:
                await repository.record_upload(
                    session, self._upload_row(None, "failed", reason), who=self._who
                )
                await session.commit()
        except SQLAlchemyError:
            log.warning("upload_failure_not_recorded", reason=reason)


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, ClientDisconnect):
        return "client_disconnected"
    if isinstance(exc, PayloadTooLarge):
        return "too_large"
    if isinstance(exc, MalwareFound):
        return "malware"
    if isinstance(exc, RequestTimeout):
        return "timeout"
    if isinstance(exc, UnsupportedMediaType):
        return "refused_type"
    if isinstance(exc, BadRequest):
        return "bad_request"
    if isinstance(exc, ScannerUnavailable):
        return "scanner_unavailable"
    if isinstance(exc, ServiceUnavailable):
        return "database_error"
    if isinstance(exc, StorageError | OSError):
        return "storage_error"
    if isinstance(exc, FileWallBallError):
        return exc.slug
    return "cancelled" if isinstance(exc, anyio.get_cancelled_exc_class()) else "internal_error"
