"""What the layers of a request leave for the edge (edge.py) to act on once the answer goes
out, and who is asking."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import Scope

# Keys in the request's scope state
ACCESS_FIELDS = "access_line"
RESPONSE_HEADERS = "response_headers"


def add_to_access_line(scope: Scope, **fields: object) -> None:
    """What the request's access line says besides its method, route, status and duration
    (how a download's body went, say): one line a request, not one more of its own."""
    scope.setdefault("state", {}).setdefault(ACCESS_FIELDS, {}).update(fields)


def add_response_headers(scope: Scope, headers: Mapping[str, str]) -> None:
    """Headers for the answer, whichever it is, where it does not set them itself (the rate
    limits on every answer, refusals included)."""
    scope.setdefault("state", {}).setdefault(RESPONSE_HEADERS, []).extend(
        (name.lower().encode(), value.encode("latin-1")) for name, value in headers.items()
    )


def route_template(scope: Scope) -> str:
    """The matched route's path template: metric labels must never hold raw paths."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


@dataclass(frozen=True, slots=True)
class Client:
    """Who is asking, as far as the request tells."""

    ip: str | None
    user_agent: str | None
    session_id: str | None
