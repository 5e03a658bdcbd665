"""Errors that reach clients, each with its HTTP status; `problems` renders them as RFC 9457
problems. Nothing here needs the web framework, so a command that only raises them starts fast.

    FileWallBallError                 500  anything unexpected, never with details
    ├── ThumbnailPending              202  asked for a thumbnail still being made
    ├── BadRequest                    400  a malformed request (multipart body, Range, form field)
    ├── RequestTimeout                408  an upload body that stopped arriving
    ├── Unauthorized                  401  a wrong, revoked or missing API key
    ├── Forbidden                     403  the actor's role may not do this
    ├── NotFound                      404  unknown, malformed, deleted or another's private file
    ├── Conflict                      409  the change clashes with what exists
    ├── Gone                          410  an upload that expired; a file whose bytes were lost
    ├── PreconditionFailed            412  a tus request without Tus-Resumable: 1.0.0
    ├── PayloadTooLarge               413  over FWB_MAX_FILE_SIZE or the extension's own limit
    ├── RangeNotSatisfiable           416  a Range outside the file
    ├── MalwareFound                  422  the malware scanner recognised the upload
    ├── Locked                        423  a resumable upload another request is writing to
    ├── TooManyRequests               429  over a rate limit or the per-client upload cap
    ├── ChecksumMismatch              460  a tus chunk that lacks its Upload-Checksum
    ├── UnsupportedMediaType          415  a refused extension, disguised content, no preview
    └── ServiceUnavailable            503  a dependency we cannot work without is down

A database that cannot be reached (SQLAlchemy's OperationalError, InterfaceError or a pool
timeout) is also answered 503, never with its message. A request body that stops short (the
client went away, or its chunked framing broke) is answered 400 in case anyone still listens,
and logged and counted as 499, "client closed request": it is no fault of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

PROBLEM_JSON = "application/problem+json"
# nginx's status for a client that closed the connection before it had its answer.
CLIENT_CLOSED_REQUEST = 499


class FileWallBallError(Exception):
    """Base of every error we answer deliberately; `status` picks the HTTP status."""

    status: int = 500
    slug: str = "internal-error"

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})


class BadRequest(FileWallBallError):
    status, slug = 400, "bad-request"


class Unauthorized(FileWallBallError):
    status, slug = 401, "unauthorized"


class Forbidden(FileWallBallError):
    status, slug = 403, "forbidden"


class Conflict(FileWallBallError):
    status, slug = 409, "conflict"


class Gone(FileWallBallError):
    status, slug = 410, "gone"


class PreconditionFailed(FileWallBallError):
    status, slug = 412, "precondition-failed"


class Locked(FileWallBallError):
    status, slug = 423, "locked"


class ChecksumMismatch(FileWallBallError):
    status, slug = 460, "checksum-mismatch"  # the tus protocol's own status


class ThumbnailPending(FileWallBallError):
    status, slug = 202, "thumbnail-pending"


class MalwareFound(FileWallBallError):
    status, slug = 422, "malware-found"


class TooManyRequests(FileWallBallError):
    status, slug = 429, "too-many-requests"


class RequestTimeout(FileWallBallError):
    status, slug = 408, "request-timeout"


class NotFound(FileWallBallError):
    status, slug = 404, "not-found"


class PayloadTooLarge(FileWallBallError):
    status, slug = 413, "file-too-large"


class UnsupportedMediaType(FileWallBallError):
    status, slug = 415, "unsupported-media-type"


class RangeNotSatisfiable(FileWallBallError):
    status, slug = 416, "range-not-satisfiable"


class ServiceUnavailable(FileWallBallError):
    status, slug = 503, "service-unavailable"


_TITLES = {460: "Checksum Mismatch"}  # statuses of protocols beyond HTTP's own list


def title_for(status: int) -> str:
    """A problem's title: the status's reason phrase."""
    return _TITLES.get(status) or HTTPStatus(status).phrase


def problem_body(status: int, detail: str, slug: str | None = None, **extra: Any) -> dict[str, Any]:
    """The members of a problem; also the examples in the OpenAPI document."""
    title = title_for(status)
    return {
        "type": f"/problems/{slug or title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }


def slug_for(status: int) -> str | None:
    """The slug our error with this status carries, if one does."""
    return next((e.slug for e in FileWallBallError.__subclasses__() if e.status == status), None)
