"""The Host headers the service answers to. Unless FWB_BASE_URL is set, the links in responses
are built from the Host header, so a forged one would put its address into every link."""

from __future__ import annotations

import re

from starlette._utils import get_route_path
from starlette.datastructures import Headers
from starlette.types import Scope

from filewallball.access.guard import PROBES
from filewallball.settings import ANY_HOST

_NAME = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\]")


def host_of(scope: Scope) -> str | None:
    """The Host header's name without its port, in lower case (`[::1]:8000` → `[::1]`); None
    when it is not a host name with an optional numeric port (`a.org:@evil`, `a.org:99999`)."""
    raw = Headers(scope=scope).get("host", "").strip().lower()
    if raw.startswith("["):  # an IPv6 literal: `[::1]` or `[::1]:8000`
        address, bracket, rest = raw.partition("]")
        name = address + bracket
        colon, port = rest[:1], rest[1:]
        if rest and colon != ":":
            return None
    else:
        name, colon, port = raw.partition(":")
    if colon and not port:
        return None
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return None
    name = name.removesuffix(".")  # `files.example.org.` is the same name, fully qualified
    return name if _NAME.fullmatch(name) else None


def is_allowed(host: str, allowed: list[str]) -> bool:
    """`*` allows any host; `*.example.org` allows its subdomains, not example.org itself."""
    for pattern in allowed:
        if pattern == ANY_HOST or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def admits(scope: Scope, allowed: list[str]) -> bool:
    """Whether to answer a request with this Host header (`allowed` in lower case). The probes
    answer whatever the Host: Kubernetes and Prometheus call them by the pod's IP address, and
    they build no links."""
    return (
        ANY_HOST in allowed
        or get_route_path(scope) in PROBES
        or is_allowed(host_of(scope) or "", allowed)
    )
