"""Liveness, readiness and the detailed health answer, plus the metrics endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from filewallball import metrics
from filewallball.deps import AppState, StateDep

router = APIRouter(tags=["operations"])
log = structlog.get_logger(__name__)
CHECK_TIMEOUT = 2.0


async def _check(name: str, probe: Any) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await probe
    except Exception as exc:
        log.warning("health_check_failed", service=name, error=type(exc).__name__)
        return "unavailable"
    return "ok"


async def _database_probe(state: AppState) -> None:
    async with state.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _health(state: AppState) -> JSONResponse:
    database, storage, cache = await asyncio.gather(
        _check("database", _database_probe(state)),
        _check("storage", state.storage.check()),
        _check("cache", state.cache.ping()),
    )
    services = {
        "database": database,
        "storage": storage,
        # Without its cache the service still answers, from the database.
        "cache": cache if cache == "ok" else "degraded",
    }
    if state.scanner is not None:
        # Reads go on without it; uploads wait for it unless FWB_CLAMAV_FAIL_OPEN.
        services["scanner"] = await _check("scanner", state.scanner.ping())
    failing = [name for name in ("database", "storage") if services[name] != "ok"]
    if failing:
        return JSONResponse(
            {"status": "unhealthy", "services": services, "failing": failing}, status_code=503
        )
    status = "healthy" if cache == "ok" else "degraded"
    return JSONResponse({"status": status, "services": services, "backends": _backends(state)})


def _backends(state: AppState) -> dict[str, str]:
    return {
        "database": state.engine.dialect.name,
        "storage": state.storage.name,
        "cache": state.cache.name,
    }


HEALTH_EXAMPLE = {
    "status": "healthy",
    "services": {"database": "ok", "cache": "ok", "storage": "ok"},
    "backends": {"database": "sqlite", "storage": "local", "cache": "memory"},
}
UNHEALTHY: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The database or the storage does not answer.",
        "content": {
            "application/json": {
                "example": {
                    "status": "unhealthy",
                    "services": {"database": "unavailable", "cache": "ok", "storage": "ok"},
                    "failing": ["database"],
                }
            }
        },
    }
}


@router.get(
    "/health",
    summary="Health of the service and each dependency",
    description="`cache: degraded` still answers 200: reads fall back to the database.",
    responses={200: {"content": {"application/json": {"example": HEALTH_EXAMPLE}}}, **UNHEALTHY},
)
async def health(state: StateDep) -> JSONResponse:
    return await _health(state)


@router.get(
    "/health/ready",
    summary="Readiness probe",
    description="200 when the database and the storage answer; 503 otherwise.",
    responses={200: {"content": {"application/json": {"example": HEALTH_EXAMPLE}}}, **UNHEALTHY},
)
async def ready(state: StateDep) -> JSONResponse:
    return await _health(state)


ALIVE = b'{"status":"alive"}'


@router.get(
    "/health/live",
    summary="Liveness probe",
    description="200 while the process answers; checks nothing else.",
    responses={200: {"content": {"application/json": {"example": {"status": "alive"}}}}},
)
async def live() -> Response:
    return Response(ALIVE, media_type="application/json")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Text exposition format, summed over all worker processes.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"example": "filewallball_uploads_total 3.0"}}}},
)
async def prometheus_metrics(state: StateDep) -> Response:
    local = state.settings.storage_dir if state.settings.storage == "local" else None
    sampled = await state.gauges.collect(state.sessions, state.engine.pool, state.activity, local)
    body, content_type = metrics.render(sampled)
    return Response(body, media_type=content_type)
