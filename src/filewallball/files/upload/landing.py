"""Landing an admitted file's bytes in storage: counted against its limit, hashed, sniffed and
scanned while they stream, and committed under a generated key only once the scanner is content.

A landing can be undone until the row that describes its blob has committed: `discard` aborts
the write or deletes the committed blob; `keep` marks the moment the row owns it.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass

import anyio
import anyio.to_thread
import structlog

from filewallball.access.clamav import Scanner, ScannerUnavailable, ScanStream
from filewallball.errors import PayloadTooLarge
from filewallball.files import blob_keys
from filewallball.files.digests import Expected, Verifier
from filewallball.files.naming import SNIFF_BYTES, resolve_mime_type
from filewallball.files.upload.policy import Admission, too_large
from filewallball.storage import BlobWriter, Storage, StorageError

log = structlog.get_logger(__name__)

# Bytes handed to the writer, the hash and the scanner at a time (as the chunks that came, never
# joined into one copy), and two batches of each landing file in memory (one stored while the next
# arrives). Measured here: a 100 MiB upload alone runs ~15% faster in 1 MiB batches than in 256 KiB
# ones, and 20 at once in 1 MiB batches took the process to 220 MiB (182 MiB in 256 KiB ones), past
# its 200 MiB budget. So batches share a fixed amount between the files landing at once, within
# those bounds.
LARGEST_BATCH = 1024 * 1024
SMALLEST_BATCH = 256 * 1024
BATCHES_IN_ALL = 4 * 1024 * 1024


class Landings:
    """How many files this process is landing now, and so how large their batches are."""

    def __init__(self) -> None:
        self.now = 0

    def batch_bytes(self) -> int:
        shared = BATCHES_IN_ALL // max(self.now, 1)
        return max(SMALLEST_BATCH, min(LARGEST_BATCH, shared))


@dataclass(frozen=True, slots=True)
class LandedBlob:
    """An admitted file committed to storage, not yet described in the database."""

    admission: Admission
    file_id: str
    key: str
    size: int
    sha256: str
    md5: str
    mime_type: str


class Landing:
    """One file's bytes, from the first chunk to the committed blob."""

    def __init__(
        self,
        storage: Storage,
        scanner: Scanner | None,
        *,
        scan_fail_open: bool,
        landings: Landings,
    ) -> None:
        self._storage = storage
        self._landings = landings  # the process's: batches share its memory budget
        self._scanner = scanner
        self._scan_fail_open = scan_fail_open
        self._writer: BlobWriter | None = None
        self._scan: ScanStream | None = None
        self._committed_key: str | None = None

    async def land(
        self, admission: Admission, chunks: AsyncIterable[bytes], expected: Iterable[Expected] = ()
    ) -> LandedBlob:
        """Store `chunks` as the admitted file. PayloadTooLarge past its limit,
        UnsupportedMediaType when the content contradicts the extension, BadRequest when it
        lacks an `expected` digest, MalwareFound on the scanner's verdict; in each case nothing
        becomes visible."""
        file_id = str(uuid.uuid4())
        key = blob_keys.key_for(file_id)
        writer = self._writer = self._storage.writer(key)
        scan = await self._open_scan()
        digest, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        verifier = Verifier(expected)
        head = bytearray()
        batch: list[bytes] = []
        batched = size = 0
        mime_type: str | None = None
        storing: asyncio.Future[None] | None = None

        def _hash(chunks: tuple[bytes, ...]) -> None:
            # The MD5 the product keeps, in the same pass: a job that read the file back for
            # it after the upload cost the next upload a third of its pace (bench/README.md).
            for data in chunks:
                digest.update(data)
                md5.update(data)
                verifier.update(data)

        async def store(chunks: tuple[bytes, ...]) -> None:
            # The digest and the write each run in a worker thread, side by side: both let go
            # of the GIL, and the event loop keeps serving other requests.
            try:
                async with anyio.create_task_group() as both:
                    both.start_soon(anyio.to_thread.run_sync, _hash, chunks)
                    both.start_soon(writer.write, *chunks)
            except ExceptionGroup as failed:
                # The one that failed (the other was cancelled), as itself: a full disk is a
                # storage error the pipeline answers with a 503, not an unexpected group.
                raise failed.exceptions[0] from None
            if scan is not None:
                await scan.feed(*chunks)

        async def flush() -> None:
            # One batch is stored while the next arrives: the bytes go through at the pace of
            # the slower of the two, not of both one after the other. Its chunks go as they
            # came: joining them into one copy cost the event loop more than parsing them.
            nonlocal storing, batched
            chunks = tuple(batch)
            batch.clear()
            batched = 0
            if storing is not None:
                await storing
            storing = asyncio.ensure_future(store(chunks))

        self._landings.now += 1
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > admission.size_limit:
                    raise PayloadTooLarge(too_large(admission.size_limit))
                if mime_type is None:
                    head += chunk[: SNIFF_BYTES - len(head)]
                    if len(head) >= SNIFF_BYTES:
                        mime_type = self._sniff(admission, head)
                batch.append(chunk)
                batched += len(chunk)
                if batched >= self._landings.batch_bytes():
                    await flush()
            await flush()
            assert storing is not None
            await storing
        finally:
            self._landings.now -= 1
            if storing is not None:
                # Whatever stopped the stream, no write is left running when the writer is
                # aborted next, and a failed one is not left unheard.
                storing.cancel()
                with anyio.CancelScope(shield=True):
                    await asyncio.gather(storing, return_exceptions=True)
        if mime_type is None:  # a file shorter than the sniffing window
            mime_type = self._sniff(admission, head)
        verifier.verify()
        if scan is not None:
            await scan.verdict()  # raises MalwareFound: the blob never becomes visible
        # Known before the rename: a failure between rename and return still cleans up.
        self._committed_key = key
        await writer.commit()
        return LandedBlob(
            admission, file_id, key, size, digest.hexdigest(), md5.hexdigest(), mime_type
        )

    def keep(self) -> None:
        """The row describing the blob has committed: from now on the blob stays."""
        self._committed_key = None
        self._writer = None

    async def discard(self) -> None:
        """Undo whatever landed: the scan, the unfinished write, or the committed blob."""
        if self._scan is not None:
            self._scan.close()
        try:
            if self._writer is not None:
                await self._writer.abort()
            if self._committed_key is not None:
                await self._storage.delete(self._committed_key)
        except (StorageError, OSError):
            log.exception("upload_cleanup_failed", key=self._committed_key)

    async def _open_scan(self) -> ScanStream | None:
        if self._scanner is None:
            return None
        try:
            self._scan = await self._scanner.open()
        except ScannerUnavailable:
            if not self._scan_fail_open:
                raise
            log.warning("upload_not_scanned", reason="scanner_unavailable")
        return self._scan

    @staticmethod
    def _sniff(admission: Admission, head: bytearray) -> str:
        return resolve_mime_type(admission.extension, admission.declared_mime_type, bytes(head))
