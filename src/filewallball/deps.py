"""Dependencies, each named once, so handlers read like their signatures.

Every one is `async def`, even with nothing to await: FastAPI runs a plain `def` dependency in
its thread pool, a round trip through another thread per dependency and request."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from filewallball.access.audit import Audit, Auditor
from filewallball.access.roles import Actor
from filewallball.cache import Cache
from filewallball.db import transaction
from filewallball.jobs.worker import Worker
from filewallball.request_context import Client
from filewallball.settings import Settings
from filewallball.storage import Storage

if TYPE_CHECKING:
    from filewallball.access.clamav import Scanner
    from filewallball.access.gate import UploadGate
    from filewallball.access.policy import PolicySource
    from filewallball.access.ratelimit import RateLimiter
    from filewallball.files.activity import ActivityWriter
    from filewallball.files.hot_files import HotFiles
    from filewallball.files.listings import Listings
    from filewallball.files.upload.pipeline import Pipeline
    from filewallball.gauges import Gauges
    from filewallball.resumable.service import Resumables

_SESSION_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(slots=True)
class AppState:
    """Everything the lifespan builds; handed to handlers through the dependencies below."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    storage: Storage
    cache: Cache
    listings: Listings
    jobs: Worker
    auditor: Auditor
    policy: PolicySource
    limiter: RateLimiter
    gate: UploadGate
    scanner: Scanner | None
    uploads: Pipeline
    activity: ActivityWriter
    hot_files: HotFiles
    resumables: Resumables
    gauges: Gauges


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.fwb
    return state


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back if it
    raises; its after-commit hooks run before the response is sent."""
    async with transaction(state.sessions) as session:
        yield session


async def get_client(request: Request) -> Client:
    session_id = request.headers.get("x-session-id", "")
    user_agent = request.headers.get("user-agent")
    return Client(
        # Resolved by the access guard, through trusted proxies only.
        ip=request.scope.get("state", {}).get("client_ip"),
        user_agent=user_agent[:500] if user_agent else None,
        session_id=session_id if _SESSION_ID.fullmatch(session_id) else None,
    )


async def get_actor(request: Request) -> Actor:
    actor: Actor = request.scope["state"]["actor"]
    return actor


StateDep = Annotated[AppState, Depends(get_state)]
ActorDep = Annotated[Actor, Depends(get_actor)]
# scope="function": the commit happens before the response is sent, so what a client is told
# was stored is stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ClientDep = Annotated[Client, Depends(get_client)]


async def get_audit(request: Request, state: StateDep, session: SessionDep) -> Audit:
    request_state = request.scope.get("state", {})
    actor = request_state.get("actor")
    return Audit(
        auditor=state.auditor,
        session=session,
        actor=actor.label if actor is not None else "anonymous",
        client_ip=request_state.get("client_ip"),
        request_id=request_state.get("request_id"),
    )


AuditDep = Annotated[Audit, Depends(get_audit)]


async def get_base_url(state: StateDep, request: Request) -> str:
    """Where the links in an answer start, without a trailing slash: FWB_BASE_URL when set
    (behind a proxy that rewrites the host), else the address the request came to."""
    if state.settings.base_url:
        return str(state.settings.base_url).rstrip("/")
    scope = request.scope
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    server = scope.get("server")
    return _address_of(
        scope["scheme"],
        host,
        tuple(server) if server else None,  # a list, from some servers: not hashable
        scope.get("app_root_path", scope.get("root_path", "")),
    )


@functools.lru_cache(maxsize=256)  # bounded: the Host header is the client's to choose
def _address_of(
    scheme: str, host: bytes | None, server: tuple[str, int] | None, root_path: str
) -> str:
    """Starlette's `Request.base_url` of a request with these parts, which builds URL objects
    on every call: a tenth of a popular file's request."""
    headers = [(b"host", host)] if host is not None else []
    scope = {"type": "http", "scheme": scheme, "server": server, "root_path": root_path}
    return str(Request({**scope, "path": "/", "headers": headers}).base_url).rstrip("/")


BaseUrlDep = Annotated[str, Depends(get_base_url)]


@dataclass(frozen=True, slots=True)
class Context:
    """What a read needs, in one dependency: FastAPI resolves each dependency of a route on
    every request, and four of them cost a popular file's details a quarter of their rate."""

    state: AppState
    actor: Actor
    client: Client
    base_url: str


async def get_context(request: Request) -> Context:
    state = await get_state(request)
    return Context(
        state=state,
        actor=await get_actor(request),
        client=await get_client(request),
        base_url=await get_base_url(state, request),
    )


ContextDep = Annotated[Context, Depends(get_context)]
