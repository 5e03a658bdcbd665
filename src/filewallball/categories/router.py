"""GET /categories."""

from __future__ import annotations

from fastapi import APIRouter

from filewallball.access.roles import Permission, require
from filewallball.categories import service
from filewallball.categories.schemas import Category
from filewallball.deps import ActorDep, SessionDep
from filewallball.problems import AUTH

router = APIRouter(tags=["categories"])


@router.get(
    "/categories",
    response_model=list[Category],
    summary="List categories",
    description=(
        "Each category with its extensions, and how many live files and bytes it holds "
        "among those the caller may see."
    ),
    responses=AUTH,
)
async def categories(session: SessionDep, actor: ActorDep) -> list[Category]:
    require(actor, Permission.read)
    return await service.all_categories(session, actor)
