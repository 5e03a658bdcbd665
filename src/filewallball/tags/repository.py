"""Queries of the tags feature."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.files import repository as files_repository
from filewallball.files.models import File, FileTag, FileTagRelation


async def link(session: AsyncSession, file_pk: int, tags: Sequence[FileTag]) -> None:
    existing = set(
        await session.scalars(
            select(FileTagRelation.tag_id).where(FileTagRelation.file_id == file_pk)
        )
    )
    for tag in tags:
        if tag.id not in existing:
            session.add(FileTagRelation(file_id=file_pk, tag_id=tag.id))
    await session.flush()


async def unlink(
    session: AsyncSession,
    file_pk: int,
    keep: Sequence[FileTag] | None = None,
    drop: Sequence[str] | None = None,
) -> None:
    """Remove the file's tags named in `drop`, or all but `keep`."""
    statement = delete(FileTagRelation).where(FileTagRelation.file_id == file_pk)
    if keep is not None:
        statement = statement.where(FileTagRelation.tag_id.not_in([tag.id for tag in keep]))
    if drop is not None:
        dropped = select(FileTag.id).where(FileTag.tag_name.in_(drop))
        statement = statement.where(FileTagRelation.tag_id.in_(dropped))
    await session.execute(statement)


async def names_of(session: AsyncSession, file_pk: int) -> list[str]:
    return list(
        await session.scalars(
            select(FileTag.tag_name)
            .join(FileTagRelation, FileTagRelation.tag_id == FileTag.id)
            .where(FileTagRelation.file_id == file_pk)
            .order_by(FileTag.tag_name)
        )
    )


async def counts(
    session: AsyncSession, seen_by: files_repository.Viewer | None, limit: int
) -> list[tuple[str, int]]:
    """Tags of live files `seen_by` may see (all, when None), most used first."""
    rows = await session.execute(
        select(FileTag.tag_name, func.count(FileTagRelation.file_id).label("uses"))
        .join(FileTagRelation, FileTagRelation.tag_id == FileTag.id)
        .join(File, File.id == FileTagRelation.file_id)
        .where(*files_repository.live_files_seen_by(seen_by))
        .group_by(FileTag.tag_name)
        .order_by(func.count(FileTagRelation.file_id).desc(), FileTag.tag_name)
        .limit(limit)
    )
    return [(name, uses) for name, uses in rows.all()]
