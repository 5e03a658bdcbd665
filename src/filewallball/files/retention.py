"""Expiring links: a file may ask to be gone after a time (`expires_in`) or after so many
downloads (`max_downloads`). Past either it answers 410 and leaves every list; the cleanup
purges it later. The download limit holds exactly, across replicas: each download is granted
by one conditional update of the file's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.db import Reader, reading, transaction, utcnow
from filewallball.errors import BadRequest, Gone
from filewallball.files.models import File
from filewallball.files.schemas import StoredFile

MAX_DOWNLOADS = 1_000_000_000  # what the column holds; more is no limit at all


@dataclass(frozen=True, slots=True)
class Retention:
    """When a file expires and how many downloads it allows; None: never, unlimited."""

    expires_at: datetime | None = None
    max_downloads: int | None = None


def parse(expires_in: object, max_downloads: object, *, longest: int) -> Retention:
    """Retention from what a client sent (numbers, or their text; None or "" for none)."""
    seconds = _whole(expires_in, "expires_in")
    if seconds is not None and not 1 <= seconds <= longest:
        raise BadRequest(f"expires_in must be 1 to {longest} seconds.")
    downloads = _whole(max_downloads, "max_downloads")
    if downloads is not None and not 1 <= downloads <= MAX_DOWNLOADS:
        raise BadRequest(f"max_downloads must be 1 to {MAX_DOWNLOADS}.")
    expires_at = None if seconds is None else utcnow() + timedelta(seconds=seconds)
    return Retention(expires_at, downloads)


def _whole(value: object, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(f"{name} must be a whole number.")
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise BadRequest(f"{name} must be a whole number.")
    return int(text)


def require_unexpired(stored: StoredFile) -> None:
    """Gone when the file's time is up."""
    if stored.expires_at is not None and stored.expires_at <= utcnow():
        raise Gone("This link has expired.")


async def require_available(reader: Reader, stored: StoredFile) -> int | None:
    """Gone when the file expired or its downloads are used up; else how many downloads are
    left (None: the link has no limit)."""
    require_unexpired(stored)
    if stored.max_downloads is None:
        return None
    async with reading(reader) as session:
        granted = await session.scalar(select(File.downloads_granted).where(File.id == stored.id))
    left = stored.max_downloads - (granted or 0)
    if left <= 0:
        raise Gone("This link's downloads are used up.")
    return left


async def grant_download(
    sessions: async_sessionmaker[AsyncSession], stored: StoredFile
) -> int | None:
    """Take one of the file's downloads, or Gone when none is left; how many are left after
    it. A file without a limit takes none (no write at all): None."""
    if stored.max_downloads is None:
        return None
    async with transaction(sessions) as session:
        result = await session.execute(
            update(File)
            .where(File.id == stored.id, File.downloads_granted < File.max_downloads)
            .values(downloads_granted=File.downloads_granted + 1)
        )
        if not getattr(result, "rowcount", 0):
            raise Gone("This link's downloads are used up.")
        left = await session.scalar(
            select(File.max_downloads - File.downloads_granted).where(File.id == stored.id)
        )
    return left or 0
