"""Queries on resumable uploads and their chunks. The caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.resumable.models import ResumableChunk, ResumableUpload


async def get(session: AsyncSession, upload_id: str) -> ResumableUpload | None:
    return await session.get(ResumableUpload, upload_id, populate_existing=True)


async def unfinished(session: AsyncSession, client: str, now: datetime) -> int:
    """How many uploads the client has begun and neither finished nor let expire."""
    query = select(func.count()).where(
        ResumableUpload.client == client,
        ResumableUpload.file_id.is_(None),
        ResumableUpload.kind != "final",
        ResumableUpload.expires_at > now,
    )
    return int(await session.scalar(query) or 0)


async def chunks(session: AsyncSession, upload_ids: Sequence[str]) -> list[ResumableChunk]:
    """The uploads' chunks, in the order of `upload_ids`, then by position."""
    rows = await session.scalars(
        select(ResumableChunk).where(ResumableChunk.upload_id.in_(upload_ids))
    )
    order = {upload_id: place for place, upload_id in enumerate(upload_ids)}
    return sorted(rows, key=lambda chunk: (order[chunk.upload_id], chunk.start))


async def advance(
    session: AsyncSession, upload_id: str, start: int, end: int, **changes: Any
) -> bool:
    """Move the upload's offset from `start` to `end` (and make `changes`), only if it is still at
    `start`: of two requests that wrote the same bytes, one moves it and the other learns so."""
    result = await session.execute(
        update(ResumableUpload)
        .where(ResumableUpload.id == upload_id, ResumableUpload.upload_offset == start)
        .values(upload_offset=end, **changes)
    )
    return _changed(result)


async def remove_chunks(session: AsyncSession, upload_ids: Sequence[str]) -> list[str]:
    """Delete the uploads' chunks' rows; the keys of their blobs."""
    keys = list(
        await session.scalars(
            select(ResumableChunk.key).where(ResumableChunk.upload_id.in_(upload_ids))
        )
    )
    await session.execute(delete(ResumableChunk).where(ResumableChunk.upload_id.in_(upload_ids)))
    return keys


async def remove(session: AsyncSession, upload_ids: Sequence[str]) -> tuple[list[str], int]:
    """Delete the uploads with their chunks' rows; the keys of the chunks' blobs, and how
    many of the uploads were there to delete."""
    keys = await remove_chunks(session, upload_ids)
    result = await session.execute(
        delete(ResumableUpload).where(ResumableUpload.id.in_(upload_ids))
    )
    assert isinstance(result, CursorResult)
    return keys, int(result.rowcount)


async def expired(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    query = select(ResumableUpload.id).where(ResumableUpload.expires_at <= now).limit(limit)
    return list(await session.scalars(query))


async def existing(session: AsyncSession, upload_ids: Iterable[str]) -> set[str]:
    """Which of the uploads have a row."""
    query = select(ResumableUpload.id).where(ResumableUpload.id.in_(list(upload_ids)))
    return set(await session.scalars(query))


async def take_lock(
    session: AsyncSession, upload_id: str, token: str, now: datetime, until: datetime
) -> bool:
    result = await session.execute(
        update(ResumableUpload)
        .where(
            ResumableUpload.id == upload_id,
            or_(ResumableUpload.locked_until.is_(None), ResumableUpload.locked_until < now),
        )
        .values(lock_token=token, locked_until=until)
    )
    return _changed(result)


async def renew_lock(session: AsyncSession, upload_id: str, token: str, until: datetime) -> None:
    await session.execute(
        update(ResumableUpload)
        .where(ResumableUpload.id == upload_id, ResumableUpload.lock_token == token)
        .values(locked_until=until)
    )


async def release_lock(session: AsyncSession, upload_id: str, token: str) -> None:
    await session.execute(
        update(ResumableUpload)
        .where(ResumableUpload.id == upload_id, ResumableUpload.lock_token == token)
        .values(lock_token=None, locked_until=None)
    )


def _changed(result: object) -> bool:
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)
