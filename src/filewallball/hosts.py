"""The Host headers the service answers to. Unless FWB_BASE_URL is set, the links in responses
are built from the Host header, so a forged one would put its address into every link."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from filewallball.access.guard import PROBES
from filewallball.errors import problem
from filewallball.settings import ANY_HOST


def host_of(scope: Scope) -> str:
    """The Host header without its port, in lower case (`[::1]:8000` → `[::1]`)."""
    host = Headers(scope=scope).get("host", "").strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if ":" in host else host


def is_allowed(host: str, allowed: list[str]) -> bool:
    """`*` allows any host; `*.example.org` allows its subdomains, not example.org itself."""
    for pattern in allowed:
        if pattern == ANY_HOST or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


class AllowedHostsMiddleware:
    """Refuses other Host headers with a 400 problem (Starlette's TrustedHostMiddleware answers
    in plain text). The probes answer whatever the Host: Kubernetes and Prometheus call them by
    the pod's IP address, and they build no links."""

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.allowed = [host.lower() for host in allowed]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or ANY_HOST in self.allowed
            or scope["path"] in PROBES
            or is_allowed(host_of(scope), self.allowed)
        ):
            await self.app(scope, receive, send)
            return
        detail = "This service does not answer to the host named in the Host header."
        await problem(400, detail)(scope, receive, send)
