"""Blobs as files below one root folder: a laptop folder or a shared PersistentVolume.

A blob is written to a `.part` temporary beside its target, fsynced and renamed into place, so
a reader sees the old blob or the whole new one, never half of either. Names starting with a
dot are ours (temporaries, the health probe): keys may not use them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import AsyncGenerator, Generator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO

import anyio.to_thread
import structlog

from filewallball.storage.base import BlobInfo, BlobNotFound, StorageError

log = structlog.get_logger(__name__)

READ_CHUNK = 512 * 1024
LIST_BATCH = 256  # entries fetched per trip to a worker thread while listing
PART_SUFFIX = ".part"


def make_private_folders(path: Path) -> list[Path]:
    """Create `path` and any missing parents, each one owner-only, and return the ones that were
    missing. (`Path.mkdir(parents=True)` gives the mode to the last folder only; the ones above
    it get the umask's 0755.)"""
    missing: list[Path] = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    missing.reverse()
    for folder in missing:
        # exist_ok: another upload may create the same shard folder at the same moment.
        folder.mkdir(mode=0o700, exist_ok=True)
    return missing


def fsync_folder(folder: Path) -> None:
    """Make the folder's entries (a rename, a new subfolder) survive a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_durable_folders(path: Path) -> None:
    # A blob renamed into a new shard folder is lost in a crash unless the folder's own entry,
    # in its parent, is on disk too.
    for folder in make_private_folders(path):
        fsync_folder(folder.parent)


def _modified(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime, UTC)


class LocalStorage:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._root = str(self.root)  # as text: path_of runs on every download

    async def open(self) -> None:
        await anyio.to_thread.run_sync(_make_durable_folders, self.root)

    async def close(self) -> None:
        """Nothing to let go of: every file is closed by the call that opened it."""

    def path_of(self, key: str) -> Path:
        """The file for `key`, refused unless it stays inside the root: no empty or dot name
        (so no `..`, no absolute key), and no symlink below the root, which this storage never
        makes."""
        return Path(self._find(key)[0])

    def _find(self, key: str) -> tuple[str, int | None]:
        """`key`'s path, checked as `path_of` says, and the mode of what is there (None for
        nothing). One lstat per part of the key, not a resolve() of every folder from `/`:
        this runs on every download, on the event loop, as cheap as a dictionary lookup
        while the folders are in the kernel's cache."""
        parts = key.split("/")
        if any(not part or part.startswith(".") for part in parts):
            raise StorageError("blob key uses a name reserved by the storage")
        path = self._root
        for depth, part in enumerate(parts, 1):
            path = f"{path}/{part}"
            try:
                mode = os.lstat(path).st_mode
            except (FileNotFoundError, NotADirectoryError):
                # Nothing further down exists (a stray file where a folder goes holds nothing).
                return "/".join((path, *parts[depth:])), None
            if stat.S_ISLNK(mode):
                raise StorageError("blob key points outside the storage root")
        return path, mode

    def local_path(self, key: str) -> Path:
        # Safe to hand over by name: a commit renames a whole new file into place, so whoever
        # opens this path reads one committed blob from start to end, never a mix.
        return self.path_of(key)

    def _key_of(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def writer(self, key: str) -> LocalBlobWriter:
        return LocalBlobWriter(self.path_of(key))

    async def read(
        self, key: str, start: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        path = self.path_of(key)
        try:
            handle = await anyio.to_thread.run_sync(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
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

    async def stat(self, key: str) -> BlobInfo:
        path = self.path_of(key)
        try:
            st = await anyio.to_thread.run_sync(path.stat)
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(key) from None
        if not stat.S_ISREG(st.st_mode):
            raise BlobNotFound(key)
        return BlobInfo(key, st.st_size, _modified(st))

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        with contextlib.suppress(NotADirectoryError):  # missing: nothing to delete either way
            await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def exists(self, key: str) -> bool:
        # No worker thread: finding the path has just looked at the file (a tenth of a small
        # download's time went to the round trip to a thread).
        mode = self._find(key)[1]
        return mode is not None and stat.S_ISREG(mode)

    def _files(self, folder: Path) -> Generator[tuple[os.DirEntry[str], os.stat_result]]:
        """Every file below `folder`, depth first, with symlinks neither followed nor listed."""
        try:
            scan = os.scandir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return
        except PermissionError:
            # Not ours (a volume's lost+found): skipped, so one folder never stops a listing.
            log.warning("storage_folder_unreadable", folder=str(folder))
            return
        with scan:
            for entry in scan:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        yield from self._files(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        yield entry, entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while we looked: a temporary renamed or a blob deleted

    def _blobs(self, prefix: str) -> Generator[BlobInfo]:
        folder = (self.root / prefix.rpartition("/")[0]).resolve()
        if not folder.is_relative_to(self.root):
            raise StorageError("blob prefix points outside the storage root")
        for entry, st in self._files(folder):
            if entry.name.startswith("."):
                continue  # a write in progress, or the health probe
            key = self._key_of(Path(entry.path))
            if key.startswith(prefix):
                yield BlobInfo(key, st.st_size, _modified(st))

    async def list(self, prefix: str = "") -> AsyncGenerator[BlobInfo, None]:
        blobs = self._blobs(prefix)
        try:
            while batch := await anyio.to_thread.run_sync(lambda: list(islice(blobs, LIST_BATCH))):
                for info in batch:
                    yield info
        finally:
            blobs.close()

    def _stale_temporaries(self, older_than: datetime) -> Generator[Path]:
        # The time of a temporary's last write stands for when its write began: one still being
        # written to is not abandoned.
        cutoff = older_than.timestamp()
        for entry, st in self._files(self.root):
            name = entry.name
            if name.startswith(".") and name.endswith(PART_SUFFIX) and st.st_mtime < cutoff:
                yield Path(entry.path)

    async def incomplete(self, older_than: datetime) -> int:
        return await anyio.to_thread.run_sync(
            lambda: sum(1 for _ in self._stale_temporaries(older_than))
        )

    async def remove_incomplete(self, older_than: datetime) -> int:
        def sweep() -> int:
            removed = 0
            for path in self._stale_temporaries(older_than):
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue  # another replica's sweep was first: counted there
                removed += 1
            return removed

        return await anyio.to_thread.run_sync(sweep)

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
        self.temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}{PART_SUFFIX}")
        self._handle: IO[bytes] | None = None
        self._done = False

    def _open(self) -> IO[bytes]:
        _make_durable_folders(self.target.parent)
        fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return os.fdopen(fd, "wb")  # buffered: a write() never stops short

    def _write(self, data: tuple[bytes, ...]) -> None:
        if self._handle is None:
            self._handle = self._open()
        self._handle.writelines(data)

    async def write(self, *data: bytes) -> None:
        await anyio.to_thread.run_sync(self._write, data)

    def _commit(self) -> None:
        if self._handle is None:
            self._handle = self._open()
        self._handle.flush()
        # The blob's time is its commit, not its last byte: a scan or a slow row between the
        # two must not make a fresh blob look stale to the sweep.
        os.utime(self._handle.fileno())
        os.fsync(self._handle.fileno())
        self._handle.close()
        try:
            self.temp.replace(self.target)
        except FileNotFoundError:
            raise StorageError("the write was abandoned and its temporary removed") from None
        # The rename is durable only once the directory entry is.
        fsync_folder(self.target.parent)

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
