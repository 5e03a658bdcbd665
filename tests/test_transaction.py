"""One place commits: `db.transaction` commits or rolls back, then runs what waited for the
commit; a hook that fails never turns a committed change into an error."""

from __future__ import annotations

import gc

import anyio
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.backup.tables import snapshot
from filewallball.db import after_commit, transaction
from filewallball.files.models import FileTag
from tests.conftest import Backend, count_rows

pytestmark = pytest.mark.anyio
INSERT = text(
    "INSERT INTO file_tags (tag_name, tag_color, is_active, created_at) "
    "VALUES (:name, '#000000', 1, CURRENT_TIMESTAMP)"
)


async def test_hooks_run_after_the_commit_and_a_failing_one_stops_nothing(
    paused: FastAPI, database: Engine
) -> None:
    ran: list[str] = []

    async def broken() -> None:
        raise RuntimeError("the cache is gone")

    async def seen_after_commit() -> None:
        rows = count_rows(database, "file_tags", "tag_name = 'kept'")
        ran.append(f"rows={rows}")

    async with transaction(paused.state.fwb.sessions) as session:
        await session.execute(INSERT, {"name": "kept"})
        after_commit(session, broken)
        after_commit(session, seen_after_commit)

    assert ran == ["rows=1"]  # the hook saw the committed row, after the broken one failed


async def test_a_rolled_back_block_runs_no_hook(paused: FastAPI, database: Engine) -> None:
    ran: list[str] = []

    async def hook() -> None:
        ran.append("ran")

    async def failing_request() -> None:
        async with transaction(paused.state.fwb.sessions) as session:
            await session.execute(INSERT, {"name": "dropped"})
            after_commit(session, hook)
            raise LookupError("the request failed")

    with pytest.raises(LookupError):
        await failing_request()

    assert ran == []
    assert count_rows(database, "file_tags", "tag_name = 'dropped'") == 0


async def test_a_change_added_but_never_flushed_is_committed(
    paused: FastAPI, database: Engine
) -> None:
    # Nothing reached the database inside the block: the commit itself must write it.
    async with transaction(paused.state.fwb.sessions) as session:
        session.add(FileTag(tag_name="added", tag_color="#000000"))

    assert count_rows(database, "file_tags", "tag_name = 'added'") == 1


async def test_a_block_that_never_reaches_the_database_still_runs_its_hooks(
    paused: FastAPI,
) -> None:
    ran: list[str] = []

    async def hook() -> None:
        ran.append("ran")

    async with transaction(paused.state.fwb.sessions) as session:
        after_commit(session, hook)

    assert ran == ["ran"]


# SQLite lets one connection write at a time. Writers queue in the process, each woken the
# moment the one before it is done, in the order they came; SQLite's busy handler, left to
# itself, wakes a waiting writer only on its next try, up to 100 ms later, and in no order.


@pytest.fixture
def sqlite_only(backend: Backend) -> None:
    if backend.name != "sqlite":
        pytest.skip("MariaDB locks rows, not the database: its writers do not queue")


async def _holding_the_write_lock(
    sessions: async_sessionmaker[AsyncSession], wrote: anyio.Event, done: anyio.Event
) -> None:
    async with transaction(sessions) as session:
        await session.execute(INSERT, {"name": "first"})
        wrote.set()
        await done.wait()


@pytest.mark.usefixtures("sqlite_only")
async def test_sqlite_writers_take_their_turn_in_the_order_they_came(paused: FastAPI) -> None:
    sessions = paused.state.fwb.sessions
    committed: list[str] = []
    wrote, done = anyio.Event(), anyio.Event()

    async def writer(name: str) -> None:
        async with transaction(sessions) as session:
            await session.execute(INSERT, {"name": name})
        committed.append(name)

    async def connected(ready: anyio.Event, leave: anyio.Event) -> None:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
            ready.set()
            await leave.wait()

    # The pool's five connections are opened first, and each writer is given time to be in
    # line before the next comes: one that had to open a connection of its own could reach
    # the line after the one that came next (seen on a busy machine).
    names = [f"writer-{n}" for n in range(6)]
    with anyio.fail_after(20):
        async with anyio.create_task_group() as warming:
            opened, leave = [anyio.Event() for _ in range(5)], anyio.Event()
            for ready in opened:
                warming.start_soon(connected, ready, leave)
                await ready.wait()
            leave.set()
        async with anyio.create_task_group() as group:
            group.start_soon(_holding_the_write_lock, sessions, wrote, done)
            await wrote.wait()
            for name in names:
                group.start_soon(writer, name)
                await anyio.sleep(0.3)  # each is waiting before the next comes
            done.set()

    assert committed == names


@pytest.mark.usefixtures("sqlite_only")
async def test_a_writer_that_fails_or_leaves_holds_up_no_one(
    paused: FastAPI, database: Engine
) -> None:
    sessions = paused.state.fwb.sessions
    wrote, done = anyio.Event(), anyio.Event()

    async def failing_writer() -> None:
        async with transaction(sessions) as session:
            await session.execute(INSERT, {"name": "rolled back"})
            raise LookupError("the request failed")

    async def writer_that_leaves(scope: anyio.CancelScope) -> None:
        with scope:
            async with transaction(sessions) as session:
                await session.execute(INSERT, {"name": "left"})

    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            group.start_soon(_holding_the_write_lock, sessions, wrote, done)
            await wrote.wait()
            leaving = anyio.CancelScope()
            group.start_soon(writer_that_leaves, leaving)  # waits its turn, then leaves
            await anyio.sleep(0.05)
            leaving.cancel()
            done.set()
        with pytest.raises(LookupError):
            await failing_writer()
        async with transaction(sessions) as session:
            await session.execute(INSERT, {"name": "after them"})

    stored = count_rows(database, "file_tags", "tag_name IN ('first', 'left', 'after them')")
    assert stored == 2  # the first writer's and the last one's
    assert count_rows(database, "file_tags", "tag_name = 'rolled back'") == 0


async def test_a_long_read_holds_up_no_writer(paused: FastAPI, database: Engine) -> None:
    # A backup reads through one long snapshot while uploads go on.
    engine = paused.state.fwb.engine
    with anyio.fail_after(20):
        async with snapshot(engine) as reading:
            await reading.execute(text("SELECT COUNT(*) FROM file_tags"))
            async with transaction(paused.state.fwb.sessions) as session:
                await session.execute(INSERT, {"name": "during the backup"})

    assert count_rows(database, "file_tags", "tag_name = 'during the backup'") == 1


@pytest.mark.usefixtures("sqlite_only")
# SQLAlchemy warns, rightly, of the connection the collector found still checked out.
@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_writer_dropped_without_closing_holds_up_no_one(
    paused: FastAPI, database: Engine
) -> None:
    sessions = paused.state.fwb.sessions

    async def dropped() -> None:
        session = sessions()  # never closed, as by a task that was destroyed
        await session.execute(INSERT, {"name": "dropped"})

    await dropped()
    gc.collect()
    with anyio.fail_after(20):
        async with transaction(sessions) as session:
            await session.execute(INSERT, {"name": "after it"})

    assert count_rows(database, "file_tags", "tag_name = 'after it'") == 1
    assert count_rows(database, "file_tags", "tag_name = 'dropped'") == 0
