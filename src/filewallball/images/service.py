"""Thumbnails: made by a job in a separate process with a time and memory limit, stored beside
the blob, served with validators."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio.to_thread
import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.access.roles import Actor
from filewallball.cache import Cache
from filewallball.db import transaction
from filewallball.errors import NotFound, ThumbnailPending
from filewallball.files import retention
from filewallball.files import service as files_service
from filewallball.files.models import File
from filewallball.files.schemas import StoredFile
from filewallball.settings import Settings
from filewallball.storage import BlobNotFound, Storage

log = structlog.get_logger(__name__)

SIZES = ("small", "medium")


def thumbnail_key(storage_key: str, size: str) -> str:
    """Beside the blob: `ab/cd/<hex>` has its thumbnails at `ab/cd/<hex>.thumbs/<size>.webp`."""
    return f"{storage_key}.thumbs/{size}.webp"


async def _copy_blob(storage: Storage, key: str, target: Path) -> None:
    """The blob, copied into the job's private scratch folder for the decoder process: the
    storage need not be files, and the decoder never sees any other blob."""
    with target.open("xb") as copy:
        async with contextlib.aclosing(storage.read(key)) as chunks:
            async for chunk in chunks:
                await anyio.to_thread.run_sync(copy.write, chunk)


async def _decode(source: Path, target: Path, settings: Settings) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "filewallball.images.decode",
        str(source),
        str(target),
        "--max-pixels",
        str(settings.thumbnail_max_pixels),
        "--max-memory",
        str(settings.thumbnail_max_memory),
        "--max-seconds",
        str(max(1, math.ceil(settings.thumbnail_timeout))),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(settings.thumbnail_timeout):
            stdout, stderr = await process.communicate()
    except BaseException as exc:  # a timeout, or this job being cancelled: the child goes too
        process.kill()
        await asyncio.shield(process.wait())
        if isinstance(exc, TimeoutError):
            return -1, "took too long"
        raise
    if process.returncode != 0:
        return process.returncode or -1, stderr.decode(errors="replace").strip()[:200]
    return 0, stdout.decode()


async def thumbnail_job(
    payload: Mapping[str, Any],
    *,
    sessions: async_sessionmaker[AsyncSession],
    cache: Cache,
    storage: Storage,
    settings: Settings,
) -> None:
    """Make a file's thumbnails. A hostile image marks them failed; nothing else breaks."""
    file_pk, file_id, key = payload["file_pk"], payload["file_id"], payload["key"]
    facts: dict[str, Any] = {"thumbnail_status": "failed"}
    with tempfile.TemporaryDirectory(prefix="fwb-thumbs-") as scratch:
        source = Path(scratch) / "source"
        try:
            await _copy_blob(storage, key, source)
        except BlobNotFound:  # purged while the job waited: nothing to make thumbnails of
            code, output = -1, "the file's bytes are gone"
        else:
            code, output = await _decode(source, Path(scratch), settings)
        if code == 0:
            result = json.loads(output)
            for size in SIZES:
                data = await anyio.to_thread.run_sync((Path(scratch) / f"{size}.webp").read_bytes)
                writer = storage.writer(thumbnail_key(key, size))
                try:
                    await writer.write(data)
                    await writer.commit()
                except BaseException:
                    await writer.abort()
                    raise
            facts = {
                "thumbnail_status": "ready",
                "width": result["width"],
                "height": result["height"],
                "image_format": result["format"][:10],
            }
        else:
            log.warning("thumbnail_failed", file_id=file_id, reason=output)
    async with transaction(sessions) as session:
        await session.execute(update(File).where(File.id == file_pk).values(**facts))
    await files_service.refresh(cache, file_id)


async def thumbnail_given_up(
    payload: Mapping[str, Any], *, sessions: async_sessionmaker[AsyncSession], cache: Cache
) -> None:
    """The job failed for good: say so, instead of 'pending' for ever."""
    async with transaction(sessions) as session:
        await session.execute(
            update(File).where(File.id == payload["file_pk"]).values(thumbnail_status="failed")
        )
    await files_service.refresh(cache, payload["file_id"])


async def thumbnail(
    sessions: async_sessionmaker[AsyncSession],
    cache: Cache,
    storage: Storage,
    file_id: str,
    actor: Actor,
    size: str,
) -> StoredFile:
    """The file whose thumbnail of `size` may be sent, or why not."""
    stored = await files_service.find_file(sessions, cache, file_id, actor)
    await retention.require_available(sessions, stored)
    if stored.thumbnail_status == "pending":
        raise ThumbnailPending(
            "The thumbnail is being made. Try again in a moment.", headers={"Retry-After": "2"}
        )
    if stored.thumbnail_status != "ready":
        raise NotFound("This file has no thumbnail.")
    if not await storage.exists(thumbnail_key(stored.storage_key, size)):
        raise NotFound("This file has no thumbnail.")
    return stored
