"""Headers every response carries, so that nothing we serve can be framed, sniffed or run."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.middleware import cors
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from filewallball.problems import problem

API_CSP = "default-src 'none'; frame-ancestors 'none'"
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def docs_csp(page: bytes) -> str:
    """The interactive docs load Swagger UI and ReDoc from this origin and start Swagger UI
    with an inline script: that exact script is allowed by its hash, and no other inline
    script can run. Both set styles inline; ReDoc's search runs in a worker made from a blob."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(page)
    )
    return (
        f"default-src 'none'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
)
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """The headers of API answers, built once, and those of a docs page."""

    def __init__(self, *, hsts: bool = False) -> None:
        self.hsts = hsts
        self.for_api = self._headers(API_CSP)

    def for_docs(self, page: bytes) -> list[tuple[bytes, bytes]]:
        return self._headers(docs_csp(page))

    def _headers(self, csp: str) -> list[tuple[bytes, bytes]]:
        headers = {
            "content-security-policy": csp,
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
            "referrer-policy": "no-referrer",
            "cross-origin-resource-policy": "same-origin",
            "permissions-policy": PERMISSIONS_POLICY,
        }
        if self.hsts:
            headers["strict-transport-security"] = HSTS
        return [(name.encode(), value.encode("latin-1")) for name, value in headers.items()]


def add_missing(start: Message, *headers: Iterable[tuple[bytes, bytes]]) -> None:
    """Add those of `headers` (lower-case names) the answer does not set itself (a download
    sets its own CSP), the first of a name only."""
    present = {name.lower() for name, _ in start.get("headers", ())}
    added = []
    for header in itertools.chain(*headers):
        if header[0] not in present:
            present.add(header[0])
            added.append(header)
    start["headers"] = [*start.get("headers", ()), *added]


class CORSMiddleware(cors.CORSMiddleware):
    """Starlette's CORS, but a refused preflight is a problem like every other refusal, and
    with no origin allowed a request without an `Origin` header goes straight on: Starlette
    would only add `Vary: Origin` to its answer, which then never varies by origin."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.allow_origins
            and self.allow_origin_regex is None
            and scope["type"] == "http"
            and all(name != b"origin" for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code < 400:
            return answer
        # Starlette says which parts it refused: "Disallowed CORS origin, method".
        refused = bytes(answer.body).decode().removeprefix("Disallowed CORS ")
        kept = {
            name: value
            for name, value in answer.headers.items()
            if name not in {"content-type", "content-length"}
        }
        return problem(
            403,
            f"This cross-origin request is not allowed here (refused: {refused}).",
            headers=kept,
        )
