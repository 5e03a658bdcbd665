"""The upload pipeline for one attempt, whatever transport carries the bytes:

    async with pipeline.attempt(actor, client) as upload:
        admission = await upload.admit(filename, at_least=declared_file_size)
        blob = await upload.land(admission, upload.body(raw_chunks))
        received = await upload.record(blob, tags=tags, is_public=is_public)

Leaving the block with an exception undoes whatever landed (an unfinished write, or a
committed blob whose row did not commit) and logs the failure, so a transport never cleans up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass, field
from types import TracebackType

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.access.clamav import Scanner
from filewallball.access.roles import Actor
from filewallball.cache import Cache
from filewallball.errors import RequestTimeout, ServiceUnavailable
from filewallball.files import retention
from filewallball.files.digests import Expected
from filewallball.files.schemas import StoredFile
from filewallball.files.upload import accounting, policy, recording
from filewallball.files.upload.accounting import Attempt
from filewallball.files.upload.landing import LandedBlob, Landing, Landings
from filewallball.files.upload.policy import Admission
from filewallball.files.upload.recording import AlsoRecord, Received
from filewallball.files.upload.rules import ExtensionRules
from filewallball.request_context import Client
from filewallball.storage import Storage, StorageError

log = structlog.get_logger(__name__)


async def arriving(raw: AsyncIterable[bytes], idle_seconds: float) -> AsyncIterator[bytes]:
    """The bytes of a request body as they arrive; RequestTimeout when none come for
    `idle_seconds`, so that a client that stops sending does not hold a slot for ever."""
    chunks = aiter(raw)
    while True:
        try:
            async with asyncio.timeout(idle_seconds):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RequestTimeout(
                f"No part of the upload arrived for {idle_seconds:g} seconds."
            ) from None
        yield chunk


@dataclass(frozen=True, slots=True)
class Pipeline:
    """What every upload goes through: the database, the storage, the scanner, the limits."""

    sessions: async_sessionmaker[AsyncSession]
    storage: Storage
    cache: Cache  # where the lists' generation moves when a file is recorded
    max_file_size: int
    idle_timeout: float
    scanner: Scanner | None = None
    scan_fail_open: bool = False
    longest_expiry: int = 30 * 86_400  # the most seconds `expires_in` may ask for
    landings: Landings = field(default_factory=Landings)  # the files landing at once
    rules: ExtensionRules = field(default_factory=ExtensionRules)  # which types come in

    def attempt(
        self,
        actor: Actor,
        client: Client,
        expected: Iterable[Expected] = (),
        *,
        recorded_with: AlsoRecord | None = None,
    ) -> Upload:
        """One upload by `actor`, to be used as `async with`, whose file must have every
        `expected` digest; `recorded_with` commits with the file's row (its audit entry)."""
        return Upload(self, Attempt(actor, client), expected, recorded_with)

    def refuse_declared_over(self, at_least: int | None) -> None:
        """Refuse, before a byte is read, a file known to exceed the global limit."""
        policy.refuse_declared_over(at_least, self.max_file_size)

    async def admit(self, filename: str | None, *, at_least: int | None = None) -> Admission:
        """The policy's answer for a file of this name, with at least `at_least` bytes if known."""
        return await policy.admit(
            self.sessions, self.rules, filename, max_file_size=self.max_file_size, at_least=at_least
        )


class Upload:
    """One attempt going through the pipeline; its steps are called in order by a transport."""

    def __init__(
        self,
        pipeline: Pipeline,
        attempt: Attempt,
        expected: Iterable[Expected],
        recorded_with: AlsoRecord | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._expected = list(expected)
        self._recorded_with = recorded_with
        self.attempt = attempt
        self._landing = Landing(
            pipeline.storage,
            pipeline.scanner,
            scan_fail_open=pipeline.scan_fail_open,
            landings=pipeline.landings,
        )

    async def __aenter__(self) -> Upload:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _: TracebackType | None
    ) -> None:
        if exc is None:
            return
        # Shielded: a cancelled upload (the client went away) must still clean up and be logged.
        with anyio.CancelScope(shield=True):
            await self._landing.discard()
            await accounting.failed(self._pipeline.sessions, self.attempt, exc)
        if isinstance(exc, StorageError | OSError):
            log.error("upload_storage_failed", error=str(exc))
            raise ServiceUnavailable("The file could not be stored. Try again.") from None

    def refuse_declared_over(self, at_least: int | None) -> None:
        """Refuse, before a byte is read, a file the transport knows to exceed the global limit."""
        self._pipeline.refuse_declared_over(at_least)

    async def admit(self, filename: str | None, *, at_least: int | None = None) -> Admission:
        """The policy's answer for a file of this name, with at least `at_least` bytes if known."""
        return await self._pipeline.admit(filename, at_least=at_least)

    async def body(self, raw: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """The transport's bytes as they arrive, counted for the log, each with a deadline."""
        async for chunk in arriving(raw, self._pipeline.idle_timeout):
            self.attempt.bytes_received += len(chunk)
            yield chunk

    async def land(self, admission: Admission, chunks: AsyncIterable[bytes]) -> LandedBlob:
        """Store the file's bytes; the blob is committed, and undone if the attempt fails."""
        return await self._landing.land(admission, chunks, self._expected)

    async def record(
        self,
        blob: LandedBlob,
        *,
        tags: Iterable[str] = (),
        is_public: bool = True,
        expires_in: object = None,
        max_downloads: object = None,
        also: AlsoRecord | None = None,
    ) -> Received:
        """Describe the blob in the database, with `also`'s work in the same transaction; from
        then on the blob belongs to its row. `expires_in` and `max_downloads` as the client sent
        them (None: none)."""
        kept = retention.parse(expires_in, max_downloads, longest=self._pipeline.longest_expiry)
        works = [work for work in (also, self._recorded_with) if work is not None]

        async def all_of_them(session: AsyncSession, stored: StoredFile) -> None:
            for work in works:
                await work(session, stored)

        received = await recording.record(
            self._pipeline.sessions,
            self._pipeline.cache,
            blob,
            self.attempt,
            tags=tags,
            is_public=is_public,
            retention=kept,
            also=all_of_them if works else None,
        )
        if received.stored.storage_key == blob.key:
            self._landing.keep()
        else:
            # The content was stored already and the file shares that blob: this copy goes.
            await self._landing.discard()
        accounting.succeeded(self.attempt, received.stored)
        return received
