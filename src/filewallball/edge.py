"""The outermost middleware: one pass over every request and its answer.

- an id for the request (X-Request-ID when sane), bound to its log lines and sent back;
- the Host header checked against FWB_ALLOWED_HOSTS (hosts.py);
- the security headers every answer carries (headers.py), and those that layers further in
  asked for (`add_response_headers`: the rate limits), where the answer sets none of its own;
- an unexpected exception answered with a bare 500 problem, with those headers and the id;
- one access-log line and the HTTP metrics, labelled by route template.

One layer, where there were four and a fifth wrapped `send` in the access guard: each layer
costs a call and a wrapped `send` per message, together a tenth of a popular file's request
(bench/README.md).
"""

from __future__ import annotations

import asyncio
import os
import re
import time

import structlog
from starlette._utils import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from filewallball import hosts, metrics
from filewallball.errors import CLIENT_CLOSED_REQUEST
from filewallball.headers import SecurityHeaders, add_missing
from filewallball.openapi import DOCS_PAGES
from filewallball.problems import problem, unexpected
from filewallball.request_context import ACCESS_FIELDS, RESPONSE_HEADERS, route_template
from filewallball.settings import ANY_HOST

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
log = structlog.get_logger("filewallball.access")


class Edge:
    def __init__(self, app: ASGIApp, *, allowed_hosts: list[str], hsts: bool) -> None:
        self.app = app
        self.allowed_hosts = [host.lower() for host in allowed_hosts]
        self.any_host = ANY_HOST in self.allowed_hosts
        self.security = SecurityHeaders(hsts=hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((value for name, value in scope["headers"] if name == b"x-request-id"), b"")
        request_id = incoming.decode("latin-1")
        if not _REQUEST_ID.fullmatch(request_id):
            request_id = os.urandom(16).hex()  # what uuid4().hex is, without a UUID object
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        answering = False
        own_headers = [(b"x-request-id", request_id.encode()), *self.security.for_api]
        held: list[Message] = []  # a docs page, held whole to hash its inline script

        async def send_with_headers(message: Message) -> None:
            nonlocal status, answering
            if message["type"] == "http.response.start":
                status, answering = message["status"], True
                if get_route_path(scope) in DOCS_PAGES:
                    held.append(message)
                    return
                add_missing(message, own_headers, state.get(RESPONSE_HEADERS, ()))
            elif held:
                held.append(message)
                if message.get("more_body"):
                    return
                start, *body = held
                page = b"".join(part.get("body", b"") for part in body)
                add_missing(
                    start,
                    [own_headers[0], *self.security.for_docs(page)],
                    state.get(RESPONSE_HEADERS, ()),
                )
                for part in (start, *body):
                    await send(part)
                return
            await send(message)

        try:
            if not self.any_host and not hosts.admits(scope, self.allowed_hosts):
                detail = "This service does not answer to the host named in the Host header."
                await problem(400, detail)(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        except asyncio.CancelledError:
            if not answering:
                status = CLIENT_CLOSED_REQUEST  # the server gave up on a client that left
            raise
        except Exception as exc:
            if answering:
                # Too late for an answer: the server cuts the connection, so that a client
                # never takes half a body for the whole of it.
                raise
            await unexpected(scope["path"], exc)(scope, receive, send_with_headers)
        finally:
            if state.get("client_disconnected"):
                status = CLIENT_CLOSED_REQUEST
            elapsed = time.perf_counter() - started
            route, method = route_template(scope), scope["method"]
            metrics.count_request(method, route, status, elapsed)
            log.info(
                "request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                **state.get(ACCESS_FIELDS, {}),
            )
