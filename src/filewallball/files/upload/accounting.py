"""What an upload attempt leaves in the books, whatever its outcome: the metrics, a log line,
and a `file_uploads` row (with the roll-up counts) for a failure as well as for a success."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import anyio
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import ClientDisconnect

from filewallball import metrics, rollup
from filewallball.access.clamav import ScannerUnavailable
from filewallball.access.roles import Actor
from filewallball.db import transaction, utcnow
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
from filewallball.files.models import FileUpload
from filewallball.files.schemas import StoredFile
from filewallball.request_context import Client
from filewallball.storage import StorageError

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Attempt:
    """One upload attempt as its log row tells it: who sent it, when, and how many bytes came."""

    actor: Actor
    client: Client
    started_at: datetime = field(default_factory=utcnow)
    started: float = field(default_factory=time.perf_counter)
    bytes_received: int = 0

    @property
    def who(self) -> str:
        """The client the roll-ups count it under."""
        return rollup.client_label(self.actor, self.client.ip)

    def log_row(self, file_pk: int | None, status: str, reason: str | None = None) -> FileUpload:
        return FileUpload(
            file_id=file_pk,
            upload_session_id=self.client.session_id,
            client_ip=self.client.ip,
            user_agent=self.client.user_agent,
            upload_status=status,
            error_reason=reason,
            bytes_received=self.bytes_received,
            upload_started_at=self.started_at,
            upload_completed_at=utcnow(),
        )


def succeeded(attempt: Attempt, stored: StoredFile) -> None:
    """Count a stored file; its log row went into the file's own transaction."""
    metrics.UPLOADS.labels("success").inc()
    metrics.UPLOAD_BYTES.inc(stored.size)
    metrics.UPLOAD_DURATION.observe(time.perf_counter() - attempt.started)
    log.info("file_uploaded", file_id=stored.file_id, size=stored.size, mime=stored.mime_type)


async def failed(
    sessions: async_sessionmaker[AsyncSession], attempt: Attempt, exc: BaseException
) -> None:
    """Count a failure by its reason and log it in a transaction of its own (the file's, if
    any, has rolled back). A database that cannot take the row does not hide the first error."""
    reason = failure_reason(exc)
    metrics.UPLOADS.labels(reason).inc()
    log.info("upload_failed", reason=reason, bytes_received=attempt.bytes_received)
    try:
        async with transaction(sessions) as session:
            await repository.record_upload(
                session, attempt.log_row(None, "failed", reason), who=attempt.who
            )
    except SQLAlchemyError:
        log.warning("upload_failure_not_recorded", reason=reason)


# The first type an exception is an instance of names its reason: subclasses before their bases.
_REASONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (ClientDisconnect, "client_disconnected"),
    (PayloadTooLarge, "too_large"),
    (MalwareFound, "malware"),
    (RequestTimeout, "timeout"),
    (UnsupportedMediaType, "refused_type"),
    (BadRequest, "bad_request"),
    (ScannerUnavailable, "scanner_unavailable"),
    (ServiceUnavailable, "database_error"),
    ((StorageError, OSError), "storage_error"),
)


def failure_reason(exc: BaseException) -> str:
    """The `error_reason` and metrics outcome an exception stands for."""
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    if isinstance(exc, FileWallBallError):
        return exc.slug
    return "cancelled" if isinstance(exc, anyio.get_cancelled_exc_class()) else "internal_error"
