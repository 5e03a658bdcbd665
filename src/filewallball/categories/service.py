"""Listing categories with their extensions and totals, and adding categories."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.categories.schemas import Category, CategoryRequest, ExtensionEntry
from filewallball.errors import Conflict
from filewallball.files.models import FileCategory, FileExtension, file_statistics


async def all_categories(session: AsyncSession) -> list[Category]:
    totals = {
        row.category_id: row for row in (await session.execute(select(file_statistics))).all()
    }
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
            file_count=int(totals[category.id].file_count) if category.id in totals else 0,
            total_size=int(totals[category.id].total_size or 0) if category.id in totals else 0,
        )
        for category in categories
    ]


async def add_category(session: AsyncSession, request: CategoryRequest) -> Category:
    session.add(FileCategory(name=request.name, description=request.description))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"A category called {request.name!r} exists already.") from None
    return Category(
        name=request.name,
        description=request.description,
        extensions=[],
        file_count=0,
        total_size=0,
    )
