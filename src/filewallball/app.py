"""The application factory: resources are born in the lifespan and handed out by dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from filewallball import __version__, health
from filewallball.cache import create_cache
from filewallball.db import create_engine, create_sessionmaker
from filewallball.deps import AppState
from filewallball.errors import install_error_handlers
from filewallball.files import service as files_service
from filewallball.files.router import router as files_router
from filewallball.headers import SecurityHeadersMiddleware
from filewallball.jobs import Jobs
from filewallball.log import configure_logging
from filewallball.request_context import RequestContextMiddleware
from filewallball.settings import Settings, load_settings
from filewallball.storage import create_storage

log = structlog.get_logger(__name__)

DESCRIPTION = """
Upload a file, get a link to see it and a link to download it.

Every error is an [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) problem
(`application/problem+json`) with `type`, `title`, `status` and `detail`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        state = AppState(
            settings=settings,
            engine=engine,
            sessions=create_sessionmaker(engine),
            storage=create_storage(settings),
            cache=create_cache(settings),
            jobs=Jobs(),
        )
        app.state.fwb = state
        state.jobs.submit(
            "md5-backfill",
            lambda: files_service.backfill_md5(state.sessions, state.cache, state.storage),
        )
        log.info(
            "started",
            database=engine.dialect.name,
            storage=state.storage.name,
            cache=state.cache.name,
        )
        try:
            yield
        finally:
            await state.jobs.drain()
            await state.cache.close()
            await engine.dispose()

    app = FastAPI(
        title="FileWallBall",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(files_router)
    app.include_router(health.router)
    return app
