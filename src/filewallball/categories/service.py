"""Listing categories with their extensions and totals, and adding categories."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.access.roles import Actor
from filewallball.categories.schemas import Category, CategoryRequest, ExtensionEntry
from filewallball.errors import Conflict
from filewallball.files import repository as files_repository
from filewallball.files.models import File, FileCategory, FileExtension


async def _totals(
    session: AsyncSession, seen_by: files_repository.Viewer | None
) -> dict[int, tuple[int, int]]:
    """Files and bytes per category id, of the live files `seen_by` may see: another's
    private file must not show, even as a count."""
    rows = await session.execute(
        select(File.file_category_id, func.count(), func.coalesce(func.sum(File.file_size), 0))
        .where(*files_repository.live_files_seen_by(seen_by))
        .group_by(File.file_category_id)
    )
    return {category_id: (int(count), int(size)) for category_id, count, size in rows.all()}


async def all_categories(session: AsyncSession, actor: Actor) -> list[Category]:
    totals = await _totals(
        session, None if actor.is_admin else files_repository.Viewer(actor.key_pk)
    )
    extensions: dict[int, list[ExtensionEntry]] = {}
    for ext in await session.scalars(select(FileExtension).order_by(FileExtension.extension)):
        extensions.setdefault(ext.category_id, []).append(
            ExtensionEntry(
                extension=ext.extension, mime_type=ext.mime_type, is_allowed=ext.is_allowed
            )
        )
    categories = await session.scalars(select(FileCategory).order_by(FileCategory.name))
    return [
        Category(
            name=category.name,
            description=category.description,
            extensions=extensions.get(category.id, []),
            file_count=totals.get(category.id, (0, 0))[0],
            total_size=totals.get(category.id, (0, 0))[1],
        )
        for category in categories
    ]


async def add_category(session: AsyncSession, request: CategoryRequest) -> Category:
    session.add(FileCategory(name=request.name, description=request.description))
    try:
        await session.flush()  # the session dependency commits, with the audit entry
    except IntegrityError:
        # The transaction's owner rolls it back when the error leaves the request.
        raise Conflict(f"A category called {request.name!r} exists already.") from None
    return Category(
        name=request.name,
        description=request.description,
        extensions=[],
        file_count=0,
        total_size=0,
    )
