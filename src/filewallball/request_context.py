"""The outermost middleware: every request gets an id (bound to its log lines), an access-log
line and its HTTP metrics, labelled by route template."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from filewallball import metrics
from filewallball.errors import CLIENT_CLOSED_REQUEST

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
log = structlog.get_logger("filewallball.access")


def add_to_access_line(scope: Scope, **fields: object) -> None:
    """What the request's access line says besides its method, route, status and duration
    (how a download's body went, say): one line a request, not one more of its own."""
    scope.setdefault("state", {}).setdefault(_ACCESS_FIELDS, {}).update(fields)


_ACCESS_FIELDS = "access_line"


def route_template(scope: Scope) -> str:
    """The matched route's path template: metric labels must never hold raw paths."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


class RequestContextMiddleware:
    """Request id (taken from X-Request-ID when sane), access log and HTTP metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            if not started_response:
                status = CLIENT_CLOSED_REQUEST  # the server gave up on a client that left
            raise
        finally:
            if scope["state"].get("client_disconnected"):
                status = CLIENT_CLOSED_REQUEST
            elapsed = time.perf_counter() - started
            route, method = route_template(scope), scope["method"]
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_LATENCY.labels(method, route).observe(elapsed)
            log.info(
                "request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                **scope["state"].get(_ACCESS_FIELDS, {}),
            )


@dataclass(frozen=True, slots=True)
class Client:
    """Who is asking, as far as the request tells."""

    ip: str | None
    user_agent: str | None
    session_id: str | None
