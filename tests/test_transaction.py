"""One place commits: `db.transaction` commits or rolls back, then runs what waited for the
commit; a hook that fails never turns a committed change into an error."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from filewallball.db import after_commit, transaction
from filewallball.files.models import FileTag
from tests.conftest import count_rows

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
