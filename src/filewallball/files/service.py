"""The rules of the files feature: finding, describing, previewing, listing, downloading and
deleting files, and the MD5 job of earlier releases. The upload pipeline lives in `upload/`."""

from __future__ import annotations

import contextlib
import functools
import hmac
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers

from filewallball import metrics, rollup
from filewallball.access.keys import hash_secret
from filewallball.access.roles import Actor, Permission, require
from filewallball.cache import Cache, CacheUnavailable
from filewallball.db import Reader, after_commit, reading, transaction
from filewallball.errors import (
    BadRequest,
    FileWallBallError,
    Forbidden,
    Gone,
    NotFound,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from filewallball.files import repository, retention
from filewallball.files.activity import ActivityWriter, Download, View
from filewallball.files.digests import hexdigest_of, repr_digest
from filewallball.files.download import (
    DOWNLOAD_CSP,
    CountedStreamResponse,
    Validators,
    content_disposition,
    plan_response,
)
from filewallball.files.hot_files import HotFiles
from filewallball.files.listings import Listings, lists_changed
from filewallball.files.models import File
from filewallball.files.naming import is_raster, is_textual
from filewallball.files.schemas import FileChange, FileDetails, FileLinks, FilePage, StoredFile
from filewallball.request_context import Client
from filewallball.storage import BlobNotFound, Storage

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TextPreview:
    text: str
    truncated: bool


def canonical_id(file_id: str) -> str:
    """The canonical form of a UUID v4, or NotFound: a malformed id names no file."""
    try:
        parsed = uuid.UUID(file_id)
    except ValueError:
        raise NotFound("No file has this id.") from None
    if parsed.version != 4 or len(file_id) != 36:
        raise NotFound("No file has this id.")
    return str(parsed)


# Marks written over a file's cached entry (JSON never starts with a NUL byte). While a write
# is under way its entry is HELD: readers go to the database and cache nothing, so a reader
# that loaded the row just before the change cannot put it back. Once the change is committed
# the entry is marked STALE, with a mark of its own: the first reader to load the row may swap
# the mark for it, unless another write marked the entry again in between.
MARK = b"\x00"
HELD = MARK + b"held"
STALE = MARK + b"stale:"
MARK_SECONDS = 10


def _cache_key(file_id: str) -> str:
    return f"file:{file_id}"


def snapshot(file: File, category: str | None = None) -> StoredFile:
    """The cached form of a file's row. `category`: its name when the caller knows it and the
    relationship was never loaded (a row just written)."""
    return StoredFile(
        id=file.id,
        file_id=file.file_uuid,
        filename=file.original_filename,
        extension=file.file_extension,
        mime_type=file.mime_type,
        size=file.file_size,
        sha256=file.sha256,
        md5=file.file_hash,
        storage_key=file.storage_path,
        category=category if category is not None else file.category.name,
        is_public=file.is_public,
        owner_key_pk=file.owner_key_id,
        delete_token_hash=file.delete_token_hash,
        thumbnail_status=file.thumbnail_status,
        width=file.width,
        height=file.height,
        image_format=file.image_format,
        tags=tuple(sorted(tag.tag_name for tag in file.tags)),  # as loaded: in any order
        created_at=file.created_at,
        updated_at=file.updated_at,
        expires_at=file.expires_at,
        max_downloads=file.max_downloads,
    )


def links(base_url: str, file_id: str) -> FileLinks:
    base = base_url.rstrip("/")
    return FileLinks(
        info_url=f"{base}/files/{file_id}",
        view_url=f"{base}/view/{file_id}",
        download_url=f"{base}/download/{file_id}",
        share_url=f"{base}/s/{file_id}",
    )


def details(stored: StoredFile, base_url: str, views: int, downloads: int) -> FileDetails:
    return _details_of(stored, base_url).model_copy(
        update={"view_count": views, "download_count": downloads}
    )


@functools.lru_cache(maxsize=1024)
def _details_of(stored: StoredFile, base_url: str) -> FileDetails:
    """A file's details but its counts, built and validated once per version of its metadata
    and address: building them was a tenth of a popular file's request (bench/README.md)."""
    return FileDetails(
        **links(base_url, stored.file_id).model_dump(),
        file_id=stored.file_id,
        filename=stored.filename,
        size=stored.size,
        mime_type=stored.mime_type,
        extension=stored.extension,
        category=stored.category,
        sha256=stored.sha256,
        created_at=stored.created_at,
        md5=stored.md5,
        tags=list(stored.tags),
        is_public=stored.is_public,
        updated_at=stored.updated_at,
        view_count=0,
        download_count=0,
        thumbnail_status=stored.thumbnail_status,
        thumbnail_url=(
            f"{base_url.rstrip('/')}/thumbnails/{stored.file_id}"
            if stored.thumbnail_status == "ready"
            else None
        ),
        width=stored.width,
        height=stored.height,
        image_format=stored.image_format,
        expires_at=stored.expires_at,
        max_downloads=stored.max_downloads,
    )


def visible(stored: StoredFile, actor: Actor) -> bool:
    """Public files to every reader; private ones to their owner and admins only."""
    if actor.is_admin or actor.owns(stored.owner_key_pk):
        return True
    return stored.is_public and actor.can(Permission.read)


async def find_file(reader: Reader, cache: Cache, file_id: str, actor: Actor) -> StoredFile:
    """A live file the actor may see, or NotFound: another's private file does not exist.
    Reads pass the session factory: when the cache answers, no session is opened at all."""
    stored = await _cached_file(reader, cache, file_id)
    if not visible(stored, actor):
        raise NotFound("No file has this id.")
    return stored


async def _cached_file(reader: Reader, cache: Cache, file_id: str) -> StoredFile:
    """A live file's metadata, from the cache when it has it. A cache outage costs only speed."""
    file_id = canonical_id(file_id)
    key = _cache_key(file_id)
    try:
        cached = await cache.get(key)
    except CacheUnavailable as exc:
        metrics.CACHE_ERRORS.inc()
        log.warning("cache_unavailable", operation="get", error=str(exc))
        cached = None
    if cached is not None and not cached.startswith(MARK):
        metrics.CACHE_HITS.inc()
        return _parsed(cached)
    metrics.CACHE_MISSES.inc()
    async with reading(reader) as session:
        file = await repository.live_file(session, file_id)
        if file is None:
            raise NotFound("No file has this id.")
        stored = snapshot(file)
    try:
        if cached is None:
            await cache.add(key, stored.model_dump_json().encode())
        elif cached.startswith(STALE):
            await cache.replace(key, cached, stored.model_dump_json().encode())
    except CacheUnavailable:
        metrics.CACHE_ERRORS.inc()
    return stored


@functools.lru_cache(maxsize=1024)
def _parsed(cached: bytes) -> StoredFile:
    """A cache entry, parsed once per process rather than once per request: a popular file's
    entry is the same bytes every time (the very same object, from the memory cache)."""
    return StoredFile.model_validate_json(cached)


async def _mark(cache: Cache, file_id: str, mark: bytes) -> None:
    try:
        await cache.set(_cache_key(file_id), mark, ttl=MARK_SECONDS)
    except CacheUnavailable as exc:
        metrics.CACHE_ERRORS.inc()
        log.error("cache_invalidation_failed", file_id=file_id, error=str(exc))
        raise ServiceUnavailable(
            "The shared cache cannot be reached, so the change cannot be made safely. Try again."
        ) from None


async def hold(cache: Cache, file_id: str) -> None:
    """Before a write to a file: no reader caches it until the write is over. A write must not
    go on if other replicas could keep serving the old metadata."""
    await _mark(cache, file_id, HELD)


async def forget(cache: Cache, file_id: str) -> None:
    """Once a write to a file is committed: the next reader loads and caches the new metadata,
    and no list shows the old."""
    await _mark(cache, file_id, STALE + uuid.uuid4().hex.encode())
    await lists_changed(cache)


def _view(stored: StoredFile, view_type: str, actor: Actor, client: Client) -> View:
    return View(
        file_id=stored.id,
        who=rollup.client_label(actor, client.ip),
        view_type=view_type,
        viewer_ip=client.ip,
        user_agent=client.user_agent,
        session_id=client.session_id,
    )


async def describe(
    sessions: async_sessionmaker[AsyncSession],
    cache: Cache,
    activity: ActivityWriter,
    file_id: str,
    actor: Actor,
    client: Client,
    base_url: str,
) -> FileDetails:
    """The file's details. Its counts are those written so far (events wait up to an
    interval in each process's writer, and other processes' show up to a second late), plus
    this very view."""
    stored = await find_file(sessions, cache, file_id, actor)
    await retention.require_available(sessions, stored)
    activity.add(_view(stored, "info", actor, client))
    views, downloads = await activity.shown_counts(sessions, stored.id)
    return details(stored, base_url, views + 1, downloads)


def decode_text(data: bytes) -> str:
    """Text for a preview: UTF-8 when it is, else the detected encoding, else replacement."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return data[: exc.start].decode("utf-8")
    # Loaded the first time a preview is neither UTF-8 nor cut inside a character: 3 MiB in
    # every worker that no other request needs.
    import charset_normalizer

    best = charset_normalizer.from_bytes(data).best()
    return str(best) if best is not None else data.decode("utf-8", errors="replace")


async def content_missing(
    sessions: async_sessionmaker[AsyncSession], stored: StoredFile
) -> FileWallBallError:
    """Why a file's bytes cannot be served: Gone once an integrity check marked them lost, else
    (storage trouble, or damage not yet found) ServiceUnavailable."""
    async with reading(sessions) as session:
        lost = await repository.lost_at(session, stored.file_id)
    if lost is not None:
        return Gone(
            "The file's content was lost from storage; an admin can restore it from a backup."
        )
    log.error("blob_missing", file_id=stored.file_id, key=stored.storage_key)
    return ServiceUnavailable("The file's content cannot be read right now.")


async def preview(
    sessions: async_sessionmaker[AsyncSession],
    cache: Cache,
    storage: Storage,
    activity: ActivityWriter,
    file_id: str,
    actor: Actor,
    client: Client,
    limit: int,
) -> TextPreview | StoredFile:
    """The start of a text file, decoded; or, for a raster image, the file to show as it is."""
    stored = await find_file(sessions, cache, file_id, actor)
    await retention.require_available(sessions, stored)
    raster = is_raster(stored.mime_type)
    if not raster and not is_textual(stored.mime_type):
        raise UnsupportedMediaType(
            f"Only text and images have a preview; this one is {stored.mime_type}. "
            "Download it instead."
        )
    if raster and not await storage.exists(stored.storage_key):
        raise await content_missing(sessions, stored)
    try:
        chunks = [] if raster else [c async for c in storage.read(stored.storage_key, 0, limit)]
    except BlobNotFound:
        raise await content_missing(sessions, stored) from None
    activity.add(_view(stored, "preview", actor, client))
    if raster:
        return stored
    # Detecting an encoding takes tens of milliseconds per MiB: not on the event loop.
    text = await anyio.to_thread.run_sync(decode_text, b"".join(chunks))
    return TextPreview(text, truncated=stored.size > limit)


async def list_files(
    reader: Reader,
    listings: Listings,
    filters: repository.ListFilter,
    actor: Actor,
    page: int,
    size: int,
    base_url: str,
) -> bytes:
    """The page as JSON (a FilePage): kept by this process for a second, see listings.py."""
    require(actor, Permission.read)
    # Admins see everything; others the public files and their own.
    seen_by = None if actor.is_admin else repository.Viewer(actor.key_pk)

    async def build() -> tuple[bytes, datetime | None]:
        async with reading(reader) as session:
            rows, total, first_expiry = await repository.page_of_files(
                session, filters, seen_by, page=page, size=size
            )
            items = [
                details(snapshot(row), base_url, row.view_count, row.download_count) for row in rows
            ]
        pages = math.ceil(total / size)
        listed = FilePage(items=items, total=total, page=page, size=size, pages=pages)
        return listed.model_dump_json().encode(), first_expiry

    return await listings.page((seen_by, filters, page, size, base_url), build)


def may_manage(stored: StoredFile, actor: Actor, delete_token: str | None = None) -> bool:
    """Admins, the owner, or whoever holds an anonymous upload's delete token."""
    if actor.is_admin or (actor.can(Permission.manage_own) and actor.owns(stored.owner_key_pk)):
        return True
    return (
        delete_token is not None
        and stored.delete_token_hash is not None
        and (hmac.compare_digest(stored.delete_token_hash, hash_secret(delete_token)))
    )


async def delete_file(
    session: AsyncSession, cache: Cache, file_id: str, actor: Actor, delete_token: str | None
) -> None:
    """Soft delete: the row stays, marked; the blob stays until a purge."""
    stored = await find_file(session, cache, file_id, actor)
    if not may_manage(stored, actor, delete_token):
        if delete_token is not None:
            raise Forbidden("The delete token is wrong: it is not this file's.")
        raise Forbidden("Only the file's owner or an admin may delete it.")
    file_id = stored.file_id
    # Held during the write, forgotten after the commit: no reader can cache the old row.
    await hold(cache, file_id)
    await repository.soft_delete(session, stored.id)
    after_commit(session, lambda: forget(cache, file_id))


async def change_file(
    session: AsyncSession,
    cache: Cache,
    file_id: str,
    actor: Actor,
    change: FileChange,
    *,
    longest_expiry: int,
) -> tuple[StoredFile, dict[str, Any]]:
    """Apply the owner's change: visibility, expiry, download limit. The file as it is now,
    and what changed (for the audit)."""
    stored = await find_file(session, cache, file_id, actor)
    if not may_manage(stored, actor):
        raise Forbidden("Only the file's owner or an admin may change it.")
    given = change.model_fields_set
    values: dict[str, Any] = {}
    if "is_public" in given:  # never null: FileChange refuses it
        values["is_public"] = change.is_public
    if "expires_in" in given:
        values["expires_at"] = retention.parse(
            change.expires_in, None, longest=longest_expiry
        ).expires_at
    if "max_downloads" in given:
        # A new limit counts from now: the downloads already made are not held against it.
        values["max_downloads"], values["downloads_granted"] = change.max_downloads, 0
    if not values:
        raise BadRequest("Send is_public, expires_in or max_downloads.")
    await hold(cache, stored.file_id)
    updated_at = await repository.change(session, stored.id, **values)
    if updated_at is None:
        await forget(cache, stored.file_id)  # it showed a file deleted meanwhile
        raise NotFound("No file has this id.")
    after_commit(session, lambda: forget(cache, stored.file_id))
    shown = {key: value for key, value in values.items() if key != "downloads_granted"}
    return stored.model_copy(update={**shown, "updated_at": updated_at}), shown


@functools.lru_cache(maxsize=1024)
def _download_headers(stored: StoredFile) -> tuple[Validators, dict[str, str], dict[str, str]]:
    """A file's validators, the headers of every answer to a download of it, and those of an
    answer with a body: built once per version of its metadata, not on every download."""
    validators = Validators(etag=f'"{stored.sha256}"', last_modified=stored.created_at)
    always = {
        "ETag": validators.etag,
        "Last-Modified": validators.http_date,
        "Cache-Control": "no-cache",
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": DOWNLOAD_CSP,
    }
    with_body = {
        "Content-Type": stored.mime_type,
        "Content-Disposition": content_disposition(stored.filename),
    }
    return validators, always, with_body


async def download(
    sessions: async_sessionmaker[AsyncSession],
    activity: ActivityWriter,
    cache: Cache,
    storage: Storage,
    hot_files: HotFiles,
    file_id: str,
    *,
    actor: Actor,
    method: str,
    headers: Headers,
    client: Client,
) -> CountedStreamResponse:
    stored = await find_file(sessions, cache, file_id, actor)
    if not await storage.exists(stored.storage_key):
        # Found before the headers go out, so the client never gets a 200 with no body.
        raise await content_missing(sessions, stored)
    validators, always, with_body = _download_headers(stored)
    plan = plan_response(headers, validators, stored.size)
    sends_body = method == "GET" and plan.status != 304
    # A download counts once, from its first byte: a client resuming with a later range does
    # not use up another.
    counts = sends_body and plan.start == 0
    if counts:
        retention.require_unexpired(stored)
    else:
        await retention.require_available(sessions, stored)
    body = content = file = None
    if sends_body:
        try:
            content = await hot_files.content(storage, stored)
        except BlobNotFound:  # gone since `exists`: still before any header, and no grant
            raise await content_missing(sessions, stored) from None
        if content is not None:
            content = content[plan.start : plan.start + plan.length]
        else:
            body = storage.read(stored.storage_key, plan.start, plan.length)
            # Only a whole blob can be handed to the server: pathsend takes no byte range.
            file = storage.local_path(stored.storage_key) if plan.status == 200 else None
    # The grant itself refuses a link whose downloads are gone.
    if counts and await retention.grant_download(sessions, stored) == 0:
        await lists_changed(cache)  # the last download takes the file off every list
    response_headers = dict(always)
    if plan.status != 304:
        response_headers |= with_body
        response_headers["Content-Length"] = str(plan.length)
        if digest := repr_digest(stored.sha256, headers.get("want-repr-digest")):
            response_headers["Repr-Digest"] = digest
    if plan.status == 206:
        end = plan.start + plan.length - 1
        response_headers["Content-Range"] = f"bytes {plan.start}-{end}/{stored.size}"

    async def record(sent: int, complete: bool, elapsed_ms: int) -> None:
        outcome = {200: "complete", 206: "partial", 304: "not_modified"}[plan.status]
        if sends_body and not complete:
            outcome = "aborted"
        elif method == "HEAD":
            outcome = "head"  # headers only: no download happened
        metrics.DOWNLOADS.labels(outcome).inc()
        metrics.DOWNLOAD_BYTES.inc(sent)
        # Handed over, not written: a database outage costs no download the cache can serve.
        activity.add(
            Download(
                file_id=stored.id,
                who=rollup.client_label(actor, client.ip),
                counts=sends_body,
                downloader_ip=client.ip,
                user_agent=client.user_agent,
                download_method=method,
                status_code=plan.status,
                bytes_downloaded=sent,
                download_duration_ms=elapsed_ms,
                completed=complete,
                session_id=client.session_id,
            )
        )

    return CountedStreamResponse(
        body,
        status_code=plan.status,
        headers=response_headers,
        on_finish=record,
        file=file,
        content=content,
    )


async def refresh(cache: Cache, file_id: str) -> None:
    """After a background job filled in facts (MD5, image size): forget the entry, as a
    committed write does. Deleting it instead would also delete a mark a concurrent write set."""
    with contextlib.suppress(ServiceUnavailable):  # the facts only add to what is shown
        await forget(cache, file_id)


async def md5_job(
    payload: Mapping[str, Any],
    *,
    sessions: async_sessionmaker[AsyncSession],
    cache: Cache,
    storage: Storage,
) -> None:
    """The MD5 the product documents keep, for a file recorded by a release that left it to this
    job; uploads now hash it as the bytes arrive."""
    md5 = await hexdigest_of(storage, payload["key"], "md5")
    async with transaction(sessions) as session:
        await repository.set_md5(session, payload["file_pk"], md5)
    await refresh(cache, payload["file_id"])
