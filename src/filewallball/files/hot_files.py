"""Small files kept in memory once downloaded, so that a popular small file is sent from the
process's memory rather than handed to the server or read again.

Measured on granian (bench/README.md): a 10 KB body sent from memory costs half of what
handing its file to the server by pathsend costs, and reading the file for every request
costs more than pathsend's difference again. Large files still go to the server, which sends
them without a copy through Python.

A blob never changes under its key (a commit renames a whole new file into place), and an
entry is also keyed by the blob's SHA-256: whatever replaced a blob can never be answered from
an old entry. Whether a file may be downloaded at all is decided before, from its metadata,
so a deleted or private file is never sent from here (its bytes stay until they are the least
recently downloaded).
"""

from __future__ import annotations

from cachetools import LRUCache

from filewallball.files.schemas import StoredFile
from filewallball.storage import Storage

# Up to this size a file is kept (and sent from memory even when granian offers pathsend):
# at 64 KiB, memory still answered twice as many requests a second as pathsend.
SMALL_FILE_MAX_BYTES = 64 * 1024
# What an entry costs beside its bytes (its key's strings and tuple, the bytes object, the
# cache's own records): measured at about 540 B. Counted, or a budget of 8 MiB filled with
# one-byte files would hold a million entries and half a gigabyte.
ENTRY_BYTES = 1024


def _size(content: bytes) -> int:
    return ENTRY_BYTES + len(content)


class HotFiles:
    """Whole small blobs, least recently downloaded dropped first, within `budget` bytes."""

    def __init__(self, budget: int) -> None:
        # A budget too small for one entry keeps none: no file is as small as -1 byte.
        self._largest = min(SMALL_FILE_MAX_BYTES, budget - ENTRY_BYTES) if budget > 0 else -1
        self._held: LRUCache[tuple[str, str], bytes] = LRUCache(maxsize=budget, getsizeof=_size)

    async def content(self, storage: Storage, stored: StoredFile) -> bytes | None:
        """The file's bytes, from memory or read now and kept; None for a file too large to
        keep, or one whose blob does not have the size its row says (it streams as before).
        BlobNotFound when its blob is gone."""
        if stored.size > self._largest:
            return None
        key = (stored.storage_key, stored.sha256)
        content = self._held.get(key)
        if content is None:
            content = b"".join([chunk async for chunk in storage.read(stored.storage_key)])
            if len(content) != stored.size:
                return None
            self._held[key] = content
        return content
