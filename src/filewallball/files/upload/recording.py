"""Recording a landed blob: the file's row, its tags, its background jobs and the upload's log
row with its roll-up counts, committed together or not at all."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.access.keys import hash_secret
from filewallball.cache import Cache
from filewallball.db import after_commit, transaction
from filewallball.errors import ServiceUnavailable
from filewallball.files import repository
from filewallball.files.listings import lists_changed
from filewallball.files.models import File
from filewallball.files.naming import is_raster
from filewallball.files.retention import Retention
from filewallball.files.schemas import StoredFile
from filewallball.files.service import snapshot
from filewallball.files.upload.accounting import Attempt
from filewallball.files.upload.landing import LandedBlob
from filewallball.files.visibility import require_allowed
from filewallball.jobs import queue
from filewallball.tag_names import normalise_tags

log = structlog.get_logger(__name__)
NO_RETENTION = Retention()


# More work that commits with the file's row or not at all (a resumable upload marked done).
AlsoRecord = Callable[[AsyncSession, StoredFile], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Received:
    """A recorded upload: the file as stored, and the secret that deletes an anonymous one."""

    stored: StoredFile
    delete_token: str | None  # for anonymous uploads only
    queued_jobs: bool  # jobs (a thumbnail) were queued with its row: wake a worker


async def record(
    sessions: async_sessionmaker[AsyncSession],
    cache: Cache,
    blob: LandedBlob,
    attempt: Attempt,
    *,
    tags: Iterable[str],
    is_public: bool,
    retention: Retention = NO_RETENTION,
    also: AlsoRecord | None = None,
) -> Received:
    """Describe `blob` in one transaction, with `also`'s work. BadRequest for tags or a
    visibility the uploader may not have; ServiceUnavailable when the database refuses: then no
    part of the row exists."""
    names = normalise_tags(tags)
    require_allowed(is_public, attempt.actor)
    delete_token = secrets.token_urlsafe(24) if attempt.actor.is_anonymous else None
    try:
        async with transaction(sessions) as session:
            stored = await _describe(
                session, blob, attempt, names, is_public, delete_token, retention
            )
            if also is not None:
                await also(session, stored)
            after_commit(session, lambda: lists_changed(cache))  # it joins the lists at once
    except SQLAlchemyError as exc:
        log.error("upload_metadata_failed", error=type(exc).__name__)
        raise ServiceUnavailable("The file could not be recorded. Try again.") from None
    return Received(stored, delete_token, queued_jobs=queue.queued_in(session))


async def _describe(
    session: AsyncSession,
    blob: LandedBlob,
    attempt: Attempt,
    tags: list[str],
    is_public: bool,
    delete_token: str | None,
    retention: Retention,
) -> StoredFile:
    admission = blob.admission
    file = File(
        file_uuid=blob.file_id,
        original_filename=admission.filename,
        stored_filename=blob.key.rsplit("/", 1)[-1],
        file_extension=admission.extension,
        mime_type=blob.mime_type,
        file_size=blob.size,
        sha256=blob.sha256,
        file_hash=blob.md5,
        storage_path=blob.key,
        file_category_id=admission.category_id,
        is_public=is_public,
        owner_key_id=attempt.actor.key_pk,
        delete_token_hash=hash_secret(delete_token) if delete_token else None,
        thumbnail_status="pending" if is_raster(blob.mime_type) else "none",
        expires_at=retention.expires_at,
        max_downloads=retention.max_downloads,
    )
    # Content stored before is shared, not kept twice: the file points at that blob, and the
    # one just landed goes once this commits (see pipeline.Upload.record).
    file.storage_path = await repository.share_blob(session, blob.sha256, blob.key, blob.size)
    file.stored_filename = file.storage_path.rsplit("/", 1)[-1]
    file.tags = await repository.tags_named(session, tags)
    session.add(file)
    await session.flush()
    # In the same transaction as the row: no file is ever without its pending work.
    if is_raster(blob.mime_type):
        job = {"file_pk": file.id, "file_id": blob.file_id, "key": file.storage_path}
        queue.enqueue(session, "thumbnail", **job)
    await repository.record_upload(session, attempt.log_row(file.id, "completed"), who=attempt.who)
    # Built from what this block wrote, not read back: two queries fewer while the upload's
    # transaction holds its locks.
    return snapshot(file, category=admission.category)
