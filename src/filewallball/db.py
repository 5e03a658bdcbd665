"""The declarative base, the engine for SQLite or MariaDB, and the session factory."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import structlog
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_

from filewallball.settings import Settings

log = structlog.get_logger(__name__)

# Deterministic constraint names, so migrations can drop what they created on both dialects.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Auto-increment keys: BIGINT on MariaDB, INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC with microseconds in the database."""

    impl = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine tuned for the configured database."""
    url = settings.database
    if settings.is_sqlite:
        database = url.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        _WriterQueue().listen(engine)
        return engine
    return create_async_engine(
        url.update_query_dict({"charset": "utf8mb4"}),
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


SQLITE_BUSY_SECONDS = 30


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout queues writers instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    cursor.close()


_WRITING = "fwb_writing"
# Statements that take SQLite's write lock. One missed (a WITH … INSERT) only waits in SQLite's
# busy handler, as before; a read taken for a write would hold up every writer, as a backup's
# long snapshot (a plain, deferred BEGIN) would.
_WRITE = re.compile(
    r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|BEGIN\s+(IMMEDIATE|EXCLUSIVE))\b", re.I
)


class _WriterQueue:
    """SQLite's writers, queued in the process and each woken when the one before it ends.

    SQLite lets one connection write at a time; another that tries waits in SQLite's busy
    handler, which sleeps 1, 2, 5 … up to 100 ms between tries and wakes no sooner. Under a few
    concurrent uploads those sleeps compounded into seconds (bench/README.md). The queue is held
    as SQLite's lock is, from a transaction's first write to its end (here: until its
    connection is back in the pool, a moment after the commit), so it adds almost no wait that
    SQLite would not impose; it makes the wait end as soon as the lock is free, in the order the
    writers came. Other processes (a second worker, the command line) still meet SQLite's own
    lock."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None  # the lock's, once first taken

    def listen(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "before_cursor_execute", self._before_execute)
        # Released once the connection is back in the pool, its transaction over, or thrown
        # away (closed, broken, or dropped unclosed and collected, which detaches it): after
        # the commit, not before it, so the next writer finds the database free.
        for ended in ("checkin", "invalidate", "close", "detach"):
            event.listen(engine.sync_engine.pool, ended, self._ended)

    def _before_execute(self, connection: Connection, *execution: Any) -> None:
        statement: str = execution[1]
        if connection.info.get(_WRITING) or not _WRITE.match(statement):
            return
        # Runs in SQLAlchemy's greenlet on the event loop: await_ hands the wait to the loop.
        await_(self._acquire())
        connection.info[_WRITING] = True

    async def _acquire(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(SQLITE_BUSY_SECONDS):
                await self._lock.acquire()
        except TimeoutError:
            raise OperationalError(None, None, Exception("database is locked")) from None

    def _ended(self, _: Any, record: ConnectionPoolEntry, *__: Any) -> None:
        if not record.info.pop(_WRITING, False) or self._loop is None:
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self._loop:
            self._lock.release()
        else:
            # Collected in another thread (a worker thread's garbage collection): the lock
            # belongs to the event loop, and is handed back there.
            with contextlib.suppress(RuntimeError):  # that loop is closed: nothing waits
                self._loop.call_soon_threadsafe(self._lock.release)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# Where a read finds its session: the caller's own (inside a write), or the factory, for a short
# session opened only if the read reaches the database at all.
Reader = AsyncSession | async_sessionmaker[AsyncSession]


@asynccontextmanager
async def reading(reader: Reader) -> AsyncIterator[AsyncSession]:
    """A session to read with: the caller's, or one of its own that closes with the block."""
    if isinstance(reader, AsyncSession):
        yield reader
        return
    async with reader() as session:
        yield session


AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "after_commit"


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """The one place that commits: the block's work commits when it ends and rolls back if it
    raises. Services only flush; what must follow a commit they register with `after_commit`."""
    session = sessions()
    try:
        yield session
        # A block that never reached the database (a read the cache answered) has nothing to
        # commit or close: each would cost a trip through SQLAlchemy's greenlet.
        touched = session.in_transaction()  # begun by any query, flush or `add`
        if touched:
            await session.commit()
    except BaseException:
        session.info.pop(_AFTER_COMMIT, None)
        # Closing rolls back and gives the connection back to the pool. Shielded, as
        # SQLAlchemy's own `async with` exit is: a cancelled request must not keep it.
        with anyio.CancelScope(shield=True):
            await session.close()
        raise
    if touched:
        await session.close()
    for hook in session.info.pop(_AFTER_COMMIT, []):
        try:
            await hook()
        except Exception:
            # The change is committed: the caller must hear that it succeeded, and the other
            # hooks still run. What did not follow is logged.
            log.exception("after_commit_failed", hook=getattr(hook, "__qualname__", "?"))


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run `hook` once the session's transaction has committed (never if it rolls back): a
    cache forgets, or bytes are removed, only once no committed row can contradict it."""
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)
