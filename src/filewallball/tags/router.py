"""Tag endpoints: a file's tags (owner or admin), and all tags with their counts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from filewallball.deps import ActorDep, AuditDep, SessionDep, StateDep
from filewallball.problems import AUTH, FILE_NOT_FOUND
from filewallball.tag_names import MAX_TAG_LENGTH, MAX_TAGS
from filewallball.tags import service
from filewallball.tags.schemas import TagCount, TagList, TagName

router = APIRouter(tags=["tags"])
CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {**AUTH, **FILE_NOT_FOUND}


@router.put(
    "/files/{file_id}/tags",
    summary="Replace a file's tags",
    description=(
        f"Tags are trimmed, case-folded and at most {MAX_TAG_LENGTH} characters; "
        f"{MAX_TAGS} per file."
    ),
    response_model=TagList,
    responses=CHANGE_ERRORS,
)
async def replace_tags(
    file_id: str,
    body: TagList,
    state: StateDep,
    session: SessionDep,
    actor: ActorDep,
    audit: AuditDep,
) -> TagList:
    tags = await service.change(session, state.cache, file_id, actor, replace=body.tags)
    await audit("tags_changed", file_id, tags=tags)
    return TagList(tags=tags)


@router.post(
    "/files/{file_id}/tags",
    summary="Add tags to a file",
    description="Adds to the tags the file has; tags it has already are left as they are.",
    response_model=TagList,
    responses=CHANGE_ERRORS,
)
async def add_tags(
    file_id: str,
    body: TagList,
    state: StateDep,
    session: SessionDep,
    actor: ActorDep,
    audit: AuditDep,
) -> TagList:
    tags = await service.change(session, state.cache, file_id, actor, add=body.tags)
    await audit("tags_changed", file_id, tags=tags)
    return TagList(tags=tags)


@router.delete(
    "/files/{file_id}/tags/{tag}",
    summary="Remove a tag from a file",
    description="Removing a tag the file does not have changes nothing.",
    response_model=TagList,
    responses=CHANGE_ERRORS,
)
async def remove_tag(
    file_id: str,
    tag: TagName,
    state: StateDep,
    session: SessionDep,
    actor: ActorDep,
    audit: AuditDep,
) -> TagList:
    tags = await service.change(session, state.cache, file_id, actor, remove=[tag])
    await audit("tags_changed", file_id, tags=tags)
    return TagList(tags=tags)


@router.get(
    "/tags",
    response_model=list[TagCount],
    summary="List tags",
    description="Tags of the files you may see, most used first.",
    responses=AUTH,
)
async def list_tags(
    session: SessionDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TagCount]:
    return await service.counts(session, actor, limit)
