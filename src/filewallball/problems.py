"""The one place errors become answers: RFC 9457 `application/problem+json` for our own
errors, the framework's (404, 405, validation), an unreachable database, a client that went
away and anything unexpected; and the problems' examples in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.routing import Match

from filewallball.errors import (
    PROBLEM_JSON,
    FileWallBallError,
    problem_body,
    slug_for,
)

log = structlog.get_logger(__name__)


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An `application/problem+json` response."""
    body = problem_body(status, detail, slug, **extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def problem_for(error: FileWallBallError) -> JSONResponse:
    """The answer to one of our errors, whether raised in an endpoint or refused by middleware."""
    return problem(error.status, error.detail, slug=error.slug, headers=error.headers)


async def _on_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FileWallBallError)
    return problem_for(exc)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path. Starlette's own 405 names only the
    first route's, although several routes may share a path (GET and PATCH /files/{id})."""
    routes = request.app.router.routes
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        detail = "Nothing lives at this address."
    elif exc.status_code == 405:
        allowed = allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed here. Allowed: {', '.join(allowed)}."
    return problem(exc.status_code, detail, headers=headers)


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only where and what: never echo the input, which may be large or hostile.
    errors = [
        {"loc": [str(part) for part in err.get("loc", ())], "msg": str(err.get("msg", ""))}
        for err in exc.errors()
    ]
    where = ", ".join(".".join(e["loc"]) for e in errors) or "request"
    return problem(422, f"Invalid value in {where}.", slug="validation-error", errors=errors)


async def _on_database_unreachable(request: Request, exc: Exception) -> JSONResponse:
    log.error("database_unavailable", path=request.url.path, error=type(exc).__name__)
    return problem(503, "The database is unavailable. Try again shortly.")


async def _on_client_disconnect(request: Request, _: Exception) -> JSONResponse:
    # The server cannot tell a client that hung up from one whose body broke off: both end
    # the body early. The answer reaches the second; the access log speaks of the first.
    request.scope.setdefault("state", {})["client_disconnected"] = True
    log.info("client_disconnected", path=request.url.path)
    return problem(400, "The request body ended before it was complete, or was malformed.")


def unexpected(path: str, exc: Exception) -> JSONResponse:
    """The bare 500 answer to an exception nobody expected, logged with its traceback."""
    log.error("unhandled_error", path=path, error=type(exc).__name__, exc_info=exc)
    return problem(
        500, "Something went wrong on our side. It has been logged.", slug="internal-error"
    )


# OpenAPI response entries, each with the example we really send.
Responses = dict[int | str, dict[str, Any]]


def problem_response(
    status: int, detail: str, *, slug: str | None = None, description: str | None = None
) -> dict[str, Any]:
    """An OpenAPI response entry for a problem, with the example we really send."""
    example = problem_body(status, detail, slug or slug_for(status))
    return {"description": description or detail, "content": {PROBLEM_JSON: {"example": example}}}


FILE_NOT_FOUND: Responses = {404: problem_response(404, "No file has this id.")}
GONE: Responses = {
    410: problem_response(
        410,
        "This link has expired.",
        description="The link expired or its downloads are used up (`expires_in`, "
        "`max_downloads`); for the content, also a file whose bytes an integrity check found "
        "lost.",
    )
}
DATABASE_DOWN: Responses = {
    503: problem_response(503, "The database is unavailable. Try again shortly.")
}
AUTH: Responses = {
    401: problem_response(
        401, "A valid API key is required: send it as 'Authorization: Bearer <key>'."
    ),
    403: problem_response(403, "The viewer role may not do this."),
    429: problem_response(429, "Too many requests. Try again in 12 seconds.", slug="rate-limited"),
}


VALIDATION_EXAMPLE = problem_body(
    422,
    "Invalid value in query.size.",
    "validation-error",
    errors=[{"loc": ["query", "size"], "msg": "Input should be less than or equal to 100"}],
)


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what we really send for 422: a problem, not FastAPI's
    default validation body."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = default_openapi()
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                invalid = operation.get("responses", {}).get("422")
                # FastAPI's own entry; a route that documents its own 422 problem keeps it.
                if invalid is not None and PROBLEM_JSON not in invalid.get("content", {}):
                    invalid["description"] = "A parameter has an invalid value."
                    invalid["content"] = {PROBLEM_JSON: {"example": VALIDATION_EXAMPLE}}
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FileWallBallError, _on_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ClientDisconnect, _on_client_disconnect)
    for unreachable in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
        app.add_exception_handler(unreachable, _on_database_unreachable)
    document_problems(app)
