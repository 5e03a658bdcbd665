"""Blobs in a dict of this process: for tests and trying the service out. They vanish when the
process ends, and no other process sees them."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from filewallball.storage.base import BlobInfo, BlobNotFound, StorageError

READ_CHUNK = 512 * 1024


@dataclass(slots=True)
class _Blob:
    data: bytes
    modified: datetime


@dataclass(eq=False, slots=True)
class _Incomplete:
    last_write: datetime
    chunks: list[bytes] = field(default_factory=list)


class MemoryStorage:
    name = "memory"

    def __init__(self) -> None:
        self._blobs: dict[str, _Blob] = {}
        self._incomplete: set[_Incomplete] = set()

    async def open(self) -> None:
        """Nothing to prepare."""

    async def close(self) -> None:
        self._blobs.clear()
        self._incomplete.clear()

    def writer(self, key: str) -> MemoryBlobWriter:
        if not key:
            raise StorageError("blob key is empty")
        return MemoryBlobWriter(self, key)

    def _blob(self, key: str) -> _Blob:
        try:
            return self._blobs[key]
        except KeyError:
            raise BlobNotFound(key) from None

    async def read(
        self, key: str, start: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        # The bytes as they were when the read began, as a file opened before a rename would be.
        data = memoryview(self._blob(key).data)
        end = len(data) if length is None else min(len(data), start + length)
        for offset in range(start, end, READ_CHUNK):
            yield bytes(data[offset : min(offset + READ_CHUNK, end)])

    def local_path(self, key: str) -> Path | None:
        return None  # the bytes live in this process only: no server can send them by itself

    async def stat(self, key: str) -> BlobInfo:
        blob = self._blob(key)
        return BlobInfo(key, len(blob.data), blob.modified)

    async def delete(self, key: str) -> None:
        self._blobs.pop(key, None)

    async def exists(self, key: str) -> bool:
        return key in self._blobs

    async def list(self, prefix: str = "") -> AsyncGenerator[BlobInfo, None]:
        # A copy of the keys (the bytes are not copied): writers may commit while we yield.
        for key in [key for key in self._blobs if key.startswith(prefix)]:
            blob = self._blobs.get(key)
            if blob is not None:
                yield BlobInfo(key, len(blob.data), blob.modified)

    async def incomplete(self, older_than: datetime) -> int:
        return sum(1 for write in self._incomplete if write.last_write < older_than)

    async def remove_incomplete(self, older_than: datetime) -> int:
        old = {write for write in self._incomplete if write.last_write < older_than}
        self._incomplete -= old
        return len(old)

    async def check(self) -> None:
        """Memory is always there."""


class MemoryBlobWriter:
    """Collects the chunks; the blob appears, whole, under its key on commit."""

    def __init__(self, storage: MemoryStorage, key: str) -> None:
        self._storage = storage
        self._key = key
        self._write: _Incomplete | None = None
        self._done = False

    def _started(self) -> _Incomplete:
        if self._done:
            raise StorageError("the write is already finished")
        if self._write is None:
            # Begun at the first byte, as a local temporary is created then.
            self._write = _Incomplete(datetime.now(UTC))
            self._storage._incomplete.add(self._write)
        elif self._write not in self._storage._incomplete:
            raise StorageError("the write was abandoned and removed")
        return self._write

    async def write(self, *data: bytes) -> None:
        write = self._started()
        write.chunks.extend(map(bytes, data))
        write.last_write = datetime.now(UTC)  # still being written: not abandoned

    async def commit(self) -> None:
        write = self._started()
        self._storage._incomplete.discard(write)
        self._storage._blobs[self._key] = _Blob(b"".join(write.chunks), datetime.now(UTC))
        self._done = True

    async def abort(self) -> None:
        if self._write is not None:
            self._storage._incomplete.discard(self._write)
        self._write = None
        self._done = True
