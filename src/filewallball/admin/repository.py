"""Queries of the admin feature."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.access.models import AuditLog
from filewallball.db import utcnow
from filewallball.files import repository as files_repository
from filewallball.files.models import File, FileCategory, FileExtension
from filewallball.system_settings import SystemSetting


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def audit_page(
    session: AsyncSession, filters: AuditFilter, page: int, size: int
) -> tuple[Sequence[AuditLog], int]:
    where: list[ColumnElement[bool]] = []
    if filters.actor:
        where.append(AuditLog.actor == filters.actor)
    if filters.action:
        where.append(AuditLog.action == filters.action)
    if filters.target:
        where.append(AuditLog.target == filters.target)
    if filters.since:
        where.append(AuditLog.created_at >= filters.since)
    if filters.until:
        where.append(AuditLog.created_at < filters.until)
    total = await session.scalar(select(func.count(AuditLog.id)).where(*where)) or 0
    rows = await session.scalars(
        select(AuditLog)
        .where(*where)
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .limit(size)
        .offset((page - 1) * size)
    )
    return rows.all(), total


async def settings_named(session: AsyncSession, keys: Sequence[str]) -> dict[str, str]:
    rows = await session.execute(
        select(SystemSetting.setting_key, SystemSetting.setting_value).where(
            SystemSetting.setting_key.in_(keys)
        )
    )
    return {key: value or "" for key, value in rows.all()}


async def put_setting(session: AsyncSession, key: str, value: str, description: str) -> None:
    setting = await session.scalar(select(SystemSetting).where(SystemSetting.setting_key == key))
    if setting is None:
        session.add(SystemSetting(setting_key=key, setting_value=value, description=description))
    else:
        setting.setting_value = value
        setting.updated_at = utcnow()
    await session.flush()


async def extension(session: AsyncSession, name: str) -> FileExtension | None:
    return await session.scalar(select(FileExtension).where(FileExtension.extension == name))


async def category_named(session: AsyncSession, name: str) -> FileCategory | None:
    return await session.scalar(select(FileCategory).where(FileCategory.name == name))


async def move_files(session: AsyncSession, extension: str, category_id: int) -> None:
    await session.execute(
        update(File).where(File.file_extension == extension).values(file_category_id=category_id)
    )


async def any_file(session: AsyncSession, file_uuid: str) -> File | None:
    """A file whether deleted or not."""
    return (
        (await session.execute(select(File).where(File.file_uuid == file_uuid)))
        .unique()
        .scalar_one_or_none()
    )


async def restore(session: AsyncSession, file_id: int) -> None:
    await session.execute(
        update(File)
        .where(File.id == file_id)
        .values(is_deleted=False, deleted_at=None, updated_at=utcnow())
    )


@dataclass(frozen=True, slots=True)
class Purged:
    """A purge's outcome: whether this one removed the row, and the blob's key when no other
    file shares its bytes, which may then go."""

    removed: bool
    bytes_to_remove: str | None = None


async def purge(session: AsyncSession, file_id: int) -> Purged:
    """Delete the file's row (views, downloads, uploads and tag links go with it: ON DELETE
    CASCADE) and release its blob. Not removed when another purge was first."""
    sha256 = await session.scalar(select(File.sha256).where(File.id == file_id))
    if sha256 is not None:
        # The blob's row is locked first, as an upload of the same content locks it first:
        # taken in one order, the two never deadlock on MariaDB.
        await files_repository.lock_blob(session, sha256)
    result = await session.execute(delete(File).where(File.id == file_id))
    if sha256 is None or not getattr(result, "rowcount", 0):
        return Purged(removed=False)
    return Purged(True, await files_repository.release_blob(session, sha256))
