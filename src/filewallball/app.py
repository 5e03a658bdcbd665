"""The application factory: resources are born in the lifespan and handed out by dependencies."""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.routing import APIRoute
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from filewallball import __version__, docs, health, openapi
from filewallball.access import audit
from filewallball.access.audit import Auditor
from filewallball.access.clamav import Scanner
from filewallball.access.gate import create_gate
from filewallball.access.guard import AccessGuard
from filewallball.access.policy import PolicySource
from filewallball.access.ratelimit import RateLimiter
from filewallball.admin import cleanup
from filewallball.admin.router import router as admin_router
from filewallball.cache import create_cache
from filewallball.categories.router import router as categories_router
from filewallball.db import create_engine, create_sessionmaker
from filewallball.deps import AppState
from filewallball.direct_routes import DirectRoutes
from filewallball.edge import Edge
from filewallball.errors import Forbidden, Unauthorized
from filewallball.files import service as files_service
from filewallball.files import sweep
from filewallball.files.activity import ActivityWriter
from filewallball.files.digests import DIGEST_REQUEST_HEADERS
from filewallball.files.hot_files import HotFiles
from filewallball.files.listings import Listings
from filewallball.files.router import download, file_info, list_files, view
from filewallball.files.router import router as files_router
from filewallball.files.upload.pipeline import Pipeline
from filewallball.files.upload.rules import ExtensionRules
from filewallball.gauges import Gauges
from filewallball.headers import CORSMiddleware
from filewallball.images import service as images_service
from filewallball.images.router import router as images_router
from filewallball.jobs.wakeup import LocalWakeup, RedisWakeup, Wakeup
from filewallball.jobs.worker import Worker
from filewallball.log import configure_logging
from filewallball.problems import install_error_handlers, problem_response
from filewallball.resumable import protocol as tus
from filewallball.resumable.locks import create_locks
from filewallball.resumable.protocol import FILE_HEADERS
from filewallball.resumable.router import router as resumable_router
from filewallball.resumable.service import Resumables
from filewallball.settings import Settings, load_settings
from filewallball.stats.router import router as stats_router
from filewallball.storage import create_storage
from filewallball.tags.router import router as tags_router
from filewallball.web.router import router as web_router

log = structlog.get_logger(__name__)

DESCRIPTION = """
Upload a file, get a link to see it and a link to download it.

Every error is an [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) problem
(`application/problem+json`) with `type`, `title`, `status` and `detail`.

Send an API key as `Authorization: Bearer fwb_…` ("Authorize" above). Without one you act
in the anonymous role, which may upload and read by default; the operations with a lock
take a key, and the admin ones require one.
"""


# The most requested routes, called by DirectRoutes without FastAPI's per-request machinery.
DIRECT_ENDPOINTS = (health.live, file_info, download, view, list_files)


# What the access guard may answer on any route, before the route itself runs.
GUARD_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: problem_response(
        400,
        "API keys are refused in the URL, where logs and proxies keep them. "
        "Send 'Authorization: Bearer <key>'.",
        slug="key-in-url",
    ),
    403: problem_response(403, "Requests from your network are not allowed.", slug="ip-denied"),
    429: problem_response(429, "Too many requests. Try again in 12 seconds.", slug="rate-limited"),
}


class Service(FastAPI):
    """FastAPI with the service's own layers outermost, where FastAPI puts three of its own:
    an error page, which the edge gives instead (edge.py); its telemetry, which we do not
    turn on; and its body limit, which we do not set (uploads count their own bytes). They
    cost every request three calls and a wrapped `send`, a twentieth of a popular file's
    (bench/README.md). What FastAPI keeps inside the app's layers is kept as it builds it."""

    def build_middleware_stack(self) -> ASGIApp:
        handlers = {
            key: handler
            for key, handler in self.exception_handlers.items()
            if key not in (500, Exception)  # the edge answers what nothing else handled
        }
        app: ASGIApp = ExceptionMiddleware(
            AsyncExitStackMiddleware(self.router), handlers=handlers, debug=self.debug
        )
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await super().__call__(scope, receive, send)
            return
        if self.root_path:
            scope["root_path"] = self.root_path
        scope["app"] = self
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        await self.middleware_stack(scope, receive, send)


def _wakeup(settings: Settings) -> Wakeup:
    if settings.redis_url:
        return RedisWakeup(settings.redis_url, consumer=uuid.uuid4().hex)
    return LocalWakeup()


def _register_jobs(state: AppState) -> None:
    sessions, cache, storage, settings = state.sessions, state.cache, state.storage, state.settings
    state.jobs.handle(
        "md5",
        lambda job: files_service.md5_job(job, sessions=sessions, cache=cache, storage=storage),
    )
    state.jobs.handle(
        "thumbnail",
        lambda job: images_service.thumbnail_job(
            job, sessions=sessions, cache=cache, storage=storage, settings=state.settings
        ),
        on_give_up=lambda job: images_service.thumbnail_given_up(
            job, sessions=sessions, cache=cache
        ),
    )

    async def sweep_everything(job: Mapping[str, Any]) -> None:
        await sweep.sweep_job(
            job,
            storage=storage,
            sessions=sessions,
            stale_seconds=settings.stale_upload_seconds,
            interval=settings.sweep_interval_seconds,
        )
        await state.resumables.sweep(settings.stale_upload_seconds)
        await cleanup.cleanup(
            sessions,
            state.cache,
            storage,
            purge_after_days=settings.purge_after_days,
            log_retention_days=settings.log_retention_days,
        )

    state.jobs.handle("sweep", sweep_everything)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = create_storage(settings)
        await storage.open()  # first: a storage that cannot open leaves nothing else to undo
        engine = create_engine(settings)
        sessions = create_sessionmaker(engine)
        cache = create_cache(settings)
        scanner = (
            Scanner(settings.clamav_address, settings.clamav_timeout)
            if settings.clamav_address
            else None
        )
        uploads = Pipeline(
            sessions,
            storage,
            cache,
            max_file_size=settings.max_file_size,
            idle_timeout=settings.upload_idle_timeout,
            scanner=scanner,
            scan_fail_open=settings.clamav_fail_open,
            longest_expiry=settings.max_expires_in,
            rules=ExtensionRules(settings.policy_refresh_seconds),
        )
        state = AppState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            storage=storage,
            cache=cache,
            listings=Listings(cache),
            jobs=Worker(
                sessions,
                _wakeup(settings),
                concurrency=settings.job_concurrency,
                lease_seconds=settings.job_lease_seconds,
                poll_seconds=settings.job_poll_seconds,
            ),
            auditor=Auditor(sessions),
            policy=PolicySource(settings, sessions),
            limiter=RateLimiter(settings),
            gate=create_gate(settings),
            scanner=scanner,
            uploads=uploads,
            activity=ActivityWriter(
                sessions,
                interval=settings.activity_flush_seconds,
                batch_size=settings.activity_batch_size,
                capacity=settings.activity_max_pending,
            ),
            hot_files=HotFiles(settings.small_file_cache_bytes),
            resumables=Resumables(
                sessions,
                storage,
                uploads,
                create_locks(settings.redis_url, sessions),
                expire_seconds=settings.resumable_expire_seconds,
                max_per_client=settings.resumable_max_per_client,
            ),
            gauges=Gauges(),
        )
        app.state.fwb = state
        _register_jobs(state)
        retrying: asyncio.Task[None] | None = None
        if not await sweep.try_to_schedule(sessions, settings.sweep_interval_seconds):
            # The database may come up after us: the sweeps are scheduled once it does.
            retrying = asyncio.create_task(
                sweep.schedule_when_possible(sessions, settings.sweep_interval_seconds)
            )
        state.jobs.start()
        state.activity.start()
        log.info(
            "started",
            database=engine.dialect.name,
            storage=state.storage.name,
            cache=state.cache.name,
        )
        # What start-up made lives as long as the process: out of the collector's sight, a
        # full collection under load scans what requests made, in milliseconds, not the
        # whole heap in a tenth of a second (measured: the p99 of a popular file's details).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if retrying is not None:
                retrying.cancel()
            await state.jobs.stop()
            await state.activity.close()  # requests are over: nothing more will be added
            await state.cache.close()
            await state.limiter.close()
            await state.gate.close()
            await state.resumables.locks.close()
            await storage.close()
            await engine.dispose()

    app = Service(
        title="FileWallBall",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=GUARD_RESPONSES,
        # Served by docs.router from the service's own copy of Swagger UI and ReDoc.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    openapi.document_instance(app, settings)
    for refusal in (Unauthorized, Forbidden):
        app.add_exception_handler(refusal, audit.on_refusal)
    # Outermost to innermost, so added in reverse: the edge (request id, hosts, security
    # headers, unexpected errors, access line) → CORS → access guard → direct routes →
    # FastAPI's routes.
    app.add_middleware(
        DirectRoutes,
        routes=[
            route
            for route in (*health.router.routes, *files_router.routes)
            if isinstance(route, APIRoute) and route.endpoint in DIRECT_ENDPOINTS
        ],
    )
    app.add_middleware(AccessGuard)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "X-API-Key",
            "X-Delete-Token",
            "Content-Type",
            "Range",
            "X-Tags",
            "X-Is-Public",
            *DIGEST_REQUEST_HEADERS,
            *tus.REQUEST_HEADERS,
        ],
        expose_headers=[
            "Content-Disposition",
            "ETag",
            "Repr-Digest",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            *tus.RESPONSE_HEADERS,
            *FILE_HEADERS,
        ],
        allow_credentials=False,
    )
    app.add_middleware(Edge, allowed_hosts=settings.allowed_hosts, hsts=settings.hsts)
    # Routes are matched in order, one after another: the most requested come first.
    app.include_router(health.router)
    app.include_router(files_router)
    app.include_router(resumable_router)
    app.include_router(images_router)
    app.include_router(tags_router)
    app.include_router(categories_router)
    app.include_router(stats_router)
    app.include_router(admin_router)
    app.include_router(web_router)  # the pages for people; not in the API's schema
    app.include_router(docs.router)
    return app
