"""The extension rules uploads are admitted by, kept in each process: a change made here
holds at once, one made elsewhere within FWB_POLICY_REFRESH_SECONDS, and a database that
cannot be read leaves the last rules in force."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from filewallball.files import repository
from filewallball.files.upload import rules as rules_module
from filewallball.files.upload.rules import ExtensionRules
from tests.conftest import change

pytestmark = pytest.mark.anyio


async def refuse_csv(database: Engine, refused: bool = True) -> None:
    allowed = 0 if refused else 1
    await change(
        database, f"UPDATE file_extensions SET is_allowed = {allowed} WHERE extension = 'csv'"
    )


@pytest.fixture
async def csv_restored(database: Engine) -> AsyncIterator[None]:
    yield
    await refuse_csv(database, refused=False)


@pytest.mark.usefixtures("csv_restored")
async def test_a_rule_changed_elsewhere_holds_within_the_refresh_time(
    app: FastAPI, database: Engine
) -> None:
    sessions = app.state.fwb.sessions
    # Long enough that a busy machine reaches the second question within it.
    rules = ExtensionRules(refresh_seconds=1.5)
    assert (await rules.rule(sessions, "csv")).is_allowed

    await refuse_csv(database)  # as another replica's admin would

    assert (await rules.rule(sessions, "csv")).is_allowed  # kept, for now
    await asyncio.sleep(1.6)
    assert not (await rules.rule(sessions, "csv")).is_allowed


@pytest.mark.usefixtures("csv_restored")
async def test_a_rule_changed_here_holds_at_once(app: FastAPI, database: Engine) -> None:
    sessions = app.state.fwb.sessions
    rules = ExtensionRules(refresh_seconds=60)
    assert (await rules.rule(sessions, "csv")).is_allowed

    await refuse_csv(database)
    await rules.changed()  # what the admin endpoint runs after its commit

    assert not (await rules.rule(sessions, "csv")).is_allowed


async def test_a_read_begun_before_a_change_here_is_read_again(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = app.state.fwb.sessions
    rules = ExtensionRules(refresh_seconds=60)
    reads = 0
    read = repository.extension_rules

    async def read_while_a_change_commits(session: Any) -> Any:
        nonlocal reads
        reads += 1
        found = await read(session)
        if reads == 1:
            await rules.changed()  # committed while this read was on its way
        return found

    monkeypatch.setattr(rules_module.repository, "extension_rules", read_while_a_change_commits)
    await rules.rule(sessions, "csv")
    await rules.rule(sessions, "csv")

    assert reads == 2  # the first read was used once, not kept for a minute


async def test_a_database_that_cannot_be_read_leaves_the_last_rules(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = app.state.fwb.sessions
    rules = ExtensionRules(refresh_seconds=0)
    known = await rules.rule(sessions, "csv")

    async def unreachable(_: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("gone away"))

    monkeypatch.setattr(rules_module.repository, "extension_rules", unreachable)

    assert await rules.rule(sessions, "csv") == known
    with pytest.raises(OperationalError):  # no rules ever read: nothing to admit by
        await ExtensionRules().rule(sessions, "csv")
