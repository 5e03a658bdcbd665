"""Blobs as files below one root folder: a laptop folder or a shared PersistentVolume."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import IO

import anyio.to_thread

from filewallball.storage.base import BlobNotFound, StorageError

READ_CHUNK = 512 * 1024


def make_private_folders(path: Path) -> None:
    """Create `path` and any missing parents, each one owner-only. (`Path.mkdir(parents=True)`
    gives the mode to the last folder only; the ones above it get the umask's 0755.)"""
    missing: list[Path] = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        # exist_ok: another upload may create the same shard folder at the same moment.
        folder.mkdir(mode=0o700, exist_ok=True)


class LocalStorage:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def open(self) -> None:
        make_private_folders(self.root)

    def path_of(self, key: str) -> Path:
        """The file for `key`, refused unless it resolves inside the root."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise StorageError("blob key points outside the storage root")
        return path

    def writer(self, key: str) -> LocalBlobWriter:
        return LocalBlobWriter(self.path_of(key))

    async def read(
        self, key: str, start: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        path = self.path_of(key)
        try:
            handle = await anyio.to_thread.run_sync(path.open, "rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        try:
            await anyio.to_thread.run_sync(handle.seek, start)
            remaining = length
            while remaining is None or remaining > 0:
                size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await anyio.to_thread.run_sync(handle.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            # Closed right here: an await could be cancelled and leave the file open.
            handle.close()

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def exists(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(self.path_of(key).is_file)

    async def check(self) -> None:
        def probe() -> None:
            probe_path = self.root / f".health-{secrets.token_hex(8)}"
            probe_path.write_bytes(b"ok")
            probe_path.unlink()

        try:
            await anyio.to_thread.run_sync(probe)
        except OSError as exc:
            raise StorageError(f"storage folder is not writable ({exc.strerror})") from None


class LocalBlobWriter:
    """Writes to a temporary file beside the target, then fsyncs and renames it into place."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
        self._handle: IO[bytes] | None = None
        self._done = False

    def _open(self) -> IO[bytes]:
        make_private_folders(self.target.parent)
        fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return os.fdopen(fd, "wb")  # buffered: a write() never stops short

    def _write(self, data: bytes) -> None:
        if self._handle is None:
            self._handle = self._open()
        self._handle.write(data)

    async def write(self, data: bytes) -> None:
        await anyio.to_thread.run_sync(self._write, data)

    def _commit(self) -> None:
        if self._handle is None:
            self._handle = self._open()
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self.temp.replace(self.target)
        # The rename is durable only once the directory entry is.
        dir_fd = os.open(self.target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def commit(self) -> None:
        await anyio.to_thread.run_sync(self._commit)
        self._done = True

    def _abort(self) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
        self.temp.unlink(missing_ok=True)

    async def abort(self) -> None:
        if not self._done:
            await anyio.to_thread.run_sync(self._abort)
