"""The access layer every request goes through, before any endpoint sees it:

1. the client's address (through trusted proxies only),
2. who is calling (an API key, or the anonymous role) — a bad key is never taken as anonymous,
3. whether that address may act in that role (IP rules),
4. how often (rate limits by client and route class).

Endpoints then check what the actor may do with a given file (see files/service.py).
"""

from __future__ import annotations

import structlog
from sqlalchemy.exc import SQLAlchemyError
from starlette._utils import get_route_path
from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from filewallball.access import keys
from filewallball.access.network import client_address, client_bucket
from filewallball.access.ratelimit import LimiterUnavailable, RouteClass
from filewallball.access.roles import Actor, Role, key_required
from filewallball.deps import AppState
from filewallball.openapi import ASSET_PATHS, DOCS_PAGES
from filewallball.problems import problem, problem_for
from filewallball.request_context import add_response_headers

log = structlog.get_logger("filewallball.access")

# Probes, metrics and docs answer without a key (network rules still apply). Matched whole:
# a prefix would open `/healthXYZ` or `/metrics/../files` too.
PROBES = frozenset({"/health/live", "/health/ready", "/metrics"})
OPEN_PATHS = PROBES | DOCS_PAGES | ASSET_PATHS | {"/health", "/openapi.json", "/", "/browse"}
# The web pages and their assets: a page shows what the API would show the anonymous visitor
# a page load is, and its script calls the API with the visitor's key.
OPEN_PREFIXES = ("/s/", "/static/")
KEY_PARAMETERS = {"api_key", "apikey", "key", "token", "access_token", "x-api-key"}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def route_class(method: str, path: str) -> RouteClass:
    if path.startswith("/admin"):
        return RouteClass.admin
    if path.startswith("/uploads/"):
        # A large file comes in many chunks; beginning an upload counts as one (POST /uploads).
        return RouteClass.resumable
    return RouteClass.upload if method in UNSAFE_METHODS else RouteClass.read


def presented_key(headers: Headers) -> str | None:
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        return credentials.strip() if scheme.lower() == "bearer" else authorization
    return headers.get("x-api-key")


def key_in_url(query_string: bytes) -> bool:
    """A parameter named like a key, or any name or value that holds one."""
    return any(
        name.lower() in KEY_PARAMETERS or keys.looks_like_key(name) or keys.looks_like_key(value)
        for name, value in QueryParams(query_string).multi_items()
    )


def _key_in_url() -> JSONResponse:
    return problem(
        400,
        "API keys are refused in the URL, where logs and proxies keep them. "
        "Send 'Authorization: Bearer <key>'.",
        slug="key-in-url",
    )


def _ip_denied() -> JSONResponse:
    return problem(403, "Requests from your network are not allowed.", slug="ip-denied")


class AccessGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: AppState = scope["app"].state.fwb
        settings = state.settings
        headers = Headers(scope=scope)
        request_state = scope.setdefault("state", {})
        peer = scope["client"][0] if scope.get("client") else None
        address = client_address(peer, headers, settings.trusted_proxies, settings.forwarded_header)
        request_state["client_ip"] = str(address) if address is not None else None
        # As the routes see it: behind a proxy that serves us under a prefix (root_path), the
        # probes, the docs and the admin routes are still known by their own paths.
        path, method = get_route_path(scope), scope["method"]

        async def audit(action: str, actor_label: str = "anonymous", **detail: object) -> None:
            await state.auditor.record(
                action,
                actor=actor_label,
                outcome="denied",
                client_ip=request_state["client_ip"],
                request_id=request_state.get("request_id"),
                target=path,
                once_a_minute=True,
                **detail,
            )

        rules = await state.policy.rules()
        # Denied networks are turned away before anything costs a database query or a counter.
        if not rules.admits(address):
            await audit("ip_denied")
            await _ip_denied()(scope, receive, send)
            return

        actor = Actor(
            role=None if settings.anonymous_role == "none" else Role(settings.anonymous_role)
        )
        refusal: Response | None = None
        reason = ""
        key = presented_key(headers)
        if scope["query_string"] and key_in_url(scope["query_string"]):
            refusal, reason = _key_in_url(), "key_in_url"
        elif key is not None:
            try:
                async with state.sessions() as session:
                    authenticated = await keys.authenticate(session, key)
            except SQLAlchemyError:
                await problem(503, "The database is unavailable. Try again shortly.")(
                    scope, receive, send
                )
                return
            if authenticated is None:
                refusal, reason = problem_for(key_required()), "bad_key"
            else:
                actor = authenticated
        is_open = path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
        if refusal is None and actor.role is None and not is_open:
            refusal, reason = problem_for(key_required()), "no_key"
        request_state["actor"] = actor

        # Probes are never limited, so that a busy node cannot get its replicas restarted. A
        # refused request always counts, against its address, even on a probe: a client
        # guessing keys runs into the limit like any other.
        if settings.rate_limit_enabled and (refusal is not None or path not in PROBES):
            kind = route_class(method, path)
            client = actor.label if actor.key_id else client_bucket(address)
            try:
                verdict = await state.limiter.hit(kind, client)
            except LimiterUnavailable as exc:
                log.warning("rate_limiter_unavailable", error=str(exc))
                if settings.rate_limit_fail_closed and method in UNSAFE_METHODS:
                    await problem(
                        503,
                        "Rate limiting is unavailable; changes are paused. Try again shortly.",
                        headers={"Retry-After": "5"},
                    )(scope, receive, send)
                    return
            else:
                add_response_headers(scope, verdict.headers)
                if not verdict.allowed:
                    await audit("rate_limited", actor.label, route_class=kind.value)
                    retry = str(max(verdict.reset_after, 1))
                    await problem(
                        429,
                        f"Too many requests. Try again in {retry} seconds.",
                        slug="rate-limited",
                        headers={**verdict.headers, "Retry-After": retry},
                    )(scope, receive, send)
                    return

        if refusal is not None:
            await audit("auth_failed", reason=reason)
            await refusal(scope, receive, send)
            return
        if not rules.admits_role(address, actor.role):
            await audit("ip_denied", actor.label)
            await _ip_denied()(scope, receive, send)
            return
        await self.app(scope, receive, send)
