"""GET /stats: for admins; a summary for everyone when FWB_PUBLIC_STATS is on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from filewallball.access.roles import Permission, require
from filewallball.deps import ActorDep, StateDep
from filewallball.errors import BadRequest
from filewallball.iso_dates import IsoDate
from filewallball.problems import AUTH, problem_response
from filewallball.stats import service
from filewallball.stats.schemas import Stats, Summary

router = APIRouter(tags=["statistics"])
MAX_DAYS = 366


@router.get(
    "/stats",
    response_model=Stats | Summary,
    summary="Statistics",
    description=(
        "Totals, per category, uploads and downloads per day, most downloaded files, usage per "
        "client (address or key), upload errors by reason and the success rate, for the days "
        "`since`..`until` (default: the last 30). Admins only; with FWB_PUBLIC_STATS=true "
        "everyone else gets the totals and categories."
    ),
    responses={
        **AUTH,
        400: problem_response(
            400, f"Choose `since` on or before `until`, at most {MAX_DAYS} days apart."
        ),
    },
)
async def stats(
    state: StateDep,
    actor: ActorDep,
    since: Annotated[
        IsoDate | None,
        Query(
            description=f"The first day (default: 29 days before `until`); on or before "
            f"`until`, at most {MAX_DAYS} days apart, else 400."
        ),
    ] = None,
    until: Annotated[IsoDate | None, Query(description="The last day (default: today).")] = None,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Stats | Summary:
    until = until or datetime.now(UTC).date()
    since = since or until - timedelta(days=29)
    if since > until or (until - since).days >= MAX_DAYS:
        raise BadRequest(f"Choose `since` on or before `until`, at most {MAX_DAYS} days apart.")
    if actor.is_admin:
        return await service.full(state.sessions, since, until, top)
    require(actor, Permission.read if state.settings.public_stats else Permission.admin)
    return await service.summary(state.sessions, since, until)
