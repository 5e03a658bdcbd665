"""Views and downloads recorded off the request path.

A request hands its event to the process's `ActivityWriter` and goes on without waiting for
the database. The writer keeps events in memory and writes them in batches, one transaction
each, every `interval` seconds or as soon as `batch_size` wait: counters summed per file and
added in file id order, log rows inserted many per statement, roll-ups summed per day and
client. So the requests for one popular file no longer queue on its row lock.

The contract:
- an event is written exactly once: a batch commits whole or not at all, and leaves the
  buffer only once committed; a failed batch stays and is tried again later;
- the buffer holds at most `capacity` events; past that, new ones are dropped and counted in
  `filewallball_activity_dropped_total`;
- `close` (the lifespan's exit) writes what is left; a crash loses the unwritten events of
  this process, at most about one interval's worth while the database is up;
- each process (worker, replica) has its own writer, so nothing is shared but the database.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from datetime import date, datetime

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball import metrics, rollup
from filewallball.db import transaction, utcnow
from filewallball.files import repository
from filewallball.files.counts import ShownCounts

log = structlog.get_logger(__name__)

DROP_WARNING_SECONDS = 60.0
MAX_RETRY_SECONDS = 5.0
COUNTS_MAX_AGE = 1.0  # seconds the counts shown in a file's details may lag other processes


@dataclass(frozen=True, slots=True)
class View:
    """A file's info or preview was shown. Fields are those of `file_views`."""

    file_id: int
    who: str  # the client label the roll-ups count under
    view_type: str
    viewer_ip: str | None
    user_agent: str | None
    session_id: str | None
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class Download:
    """A download answered (HEAD and 304 included). Fields are those of `file_downloads`."""

    file_id: int
    who: str
    counts: bool  # a body was sent: HEAD and 304 are logged, not counted
    downloader_ip: str | None
    user_agent: str | None
    download_method: str
    status_code: int
    bytes_downloaded: int
    download_duration_ms: int
    completed: bool
    session_id: str | None
    created_at: datetime = field(default_factory=utcnow)


Event = View | Download


class ActivityWriter:
    """This process's buffer of events and the task that writes them."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval: float,
        batch_size: int,
        capacity: int,
        counts_max_age: float = COUNTS_MAX_AGE,
    ) -> None:
        self._sessions = sessions
        self._shown = ShownCounts(counts_max_age)
        self._interval = interval
        self._batch_size = batch_size
        self._capacity = capacity
        self._pending: list[Event] = []
        self._in_flight = 0  # events at the front of _pending that a batch is writing now
        self._lock = asyncio.Lock()  # one batch at a time: the loop, `flush` and `close`
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_drop_warning = -math.inf

    @property
    def pending(self) -> int:
        """Events accepted and not yet committed."""
        return len(self._pending)

    @property
    def lag_seconds(self) -> float:
        """How long the oldest unwritten event has waited; 0 when none waits."""
        if not self._pending:
            return 0.0
        return max((utcnow() - self._pending[0].created_at).total_seconds(), 0.0)

    async def shown_counts(
        self, sessions: async_sessionmaker[AsyncSession], file_pk: int
    ) -> tuple[int, int]:
        """(views, downloads) of a file as its details show them: all this process has
        written, and what the others wrote up to COUNTS_MAX_AGE ago."""
        return await self._shown.of(sessions, file_pk)

    def add(self, event: Event) -> None:
        """Take an event; never waits. Dropped (and counted) when the buffer is full."""
        if len(self._pending) >= self._capacity:
            metrics.ACTIVITY_DROPPED.inc()
            now = time.monotonic()
            if now - self._last_drop_warning >= DROP_WARNING_SECONDS:
                self._last_drop_warning = now
                log.warning("activity_dropped", pending=len(self._pending))
            return
        self._pending.append(event)
        # A full batch beside the one being written wakes the writer early.
        if len(self._pending) - self._in_flight >= self._batch_size:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="activity")

    async def close(self) -> None:
        """Stop the loop and write what is left; what cannot be written now is logged lost."""
        # Asked to end, not cancelled: a cancel landing between a batch's commit and the
        # removal of its events would write them twice.
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        try:
            await self.flush()
        except Exception as exc:  # shutting down: say what is lost, and go on
            log.error("activity_lost", events=len(self._pending), error=type(exc).__name__)

    async def flush(self) -> None:
        """Write every pending event, a batch at a time, including those that arrive while it
        writes. Raises the database's error if a batch fails; its events stay pending."""
        async with self._lock:
            while self._pending:
                await self._write_front(len(self._pending))

    async def _write_round(self) -> None:
        """Write the events that wait as the round starts, and no more: events arriving
        during a write wait for the next round, or a busy server would commit back to back,
        a few events each, and never batch at all."""
        async with self._lock:
            waiting = len(self._pending)
            while waiting > 0:
                waiting -= await self._write_front(waiting)

    async def _write_front(self, at_most: int) -> int:
        batch = self._pending[: min(at_most, self._batch_size)]
        self._in_flight = len(batch)
        self._shown.writing()
        added: dict[int, tuple[int, int]] = {}
        try:
            added = await _write(self._sessions, batch)
        finally:
            self._in_flight = 0
            self._shown.written(added)
        # Only this (locked) code removes events, and only from the front: new ones were
        # appended behind the batch meanwhile.
        del self._pending[: len(batch)]
        metrics.ACTIVITY_BATCHES.inc()
        return len(batch)

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            # After failures, wait longer (up to MAX_RETRY_SECONDS): a database that is down
            # is not asked again five times a second by every process.
            with anyio.move_on_after(min(self._interval * 2**failures, MAX_RETRY_SECONDS)):
                await self._wake.wait()
            self._wake.clear()
            if self._closing:
                return  # `close` writes what is left
            try:
                await self._write_round()
                failures = 0
            except Exception as exc:  # the events stay; the next round retries
                failures += 1
                metrics.ACTIVITY_FLUSH_FAILURES.inc()
                log.warning(
                    "activity_flush_failed", pending=len(self._pending), error=type(exc).__name__
                )


async def _write(
    sessions: async_sessionmaker[AsyncSession], batch: list[Event]
) -> dict[int, tuple[int, int]]:
    """One transaction for the batch: counters, log rows, roll-ups. The views and downloads
    it added, per file."""
    async with transaction(sessions) as session:
        alive = await repository.lock_files(session, {event.file_id for event in batch})
        kept = [event for event in batch if event.file_id in alive]
        if len(kept) < len(batch):  # a purge removed the file, and its logs with it
            log.info("activity_of_purged_files", events=len(batch) - len(kept))
        counts: defaultdict[int, tuple[int, int]] = defaultdict(lambda: (0, 0))
        views_per_day: Counter[date] = Counter()
        usage: defaultdict[date, dict[str, tuple[int, int]]] = defaultdict(dict)
        for event in kept:
            views, downloads = counts[event.file_id]
            day = event.created_at.date()
            if isinstance(event, View):
                counts[event.file_id] = (views + 1, downloads)
                views_per_day[day] += 1
            elif event.counts:
                counts[event.file_id] = (views, downloads + 1)
                sent, size = usage[day].get(event.who, (0, 0))
                usage[day][event.who] = (sent + 1, size + event.bytes_downloaded)
        await repository.add_to_counters(session, counts)
        await repository.add_logs(
            session,
            [_row(event) for event in kept if isinstance(event, View)],
            [_row(event) for event in kept if isinstance(event, Download)],
        )
        for day in sorted(views_per_day.keys() | usage.keys()):  # days in order: see rollup
            await rollup.count_reads(session, day, views=views_per_day[day], usage=usage[day])
    return counts


def _row(event: Event) -> dict[str, object]:
    # Not dataclasses.asdict: it deep-copies every value, datetimes included, for flat rows.
    return {name: getattr(event, name) for name in _COLUMNS[type(event)]}


_COLUMNS = {
    kind: [f.name for f in fields(kind) if f.name not in {"who", "counts"}]
    for kind in (View, Download)
}
