"""The extension rules that admit an upload, kept in each process: every upload asks, admins
change them rarely. Re-read every FWB_POLICY_REFRESH_SECONDS, as the network rules are, so a
change holds on every replica within that time, and at once on the replica that made it."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.cache.coalesce import Coalesced
from filewallball.files import repository

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Rule:
    """What an extension's rule says; an extension without one is allowed, in 'other'."""

    category_id: int
    category: str
    is_allowed: bool = True
    max_file_size: int | None = None
    mime_type: str | None = None  # the type the rule declares, a hint for sniffing


@dataclass(frozen=True, slots=True)
class _Table:
    rules: dict[str, Rule]
    unknown: Rule


class ExtensionRules:
    def __init__(self, refresh_seconds: float = 5.0) -> None:
        self._refresh_seconds = refresh_seconds
        self._table: _Table | None = None
        self._loaded_at = -math.inf
        self._changes = 0  # rule changes this process made: a read begun before one is stale
        self._loading: Coalesced[_Table] = Coalesced()

    async def rule(self, sessions: async_sessionmaker[AsyncSession], extension: str) -> Rule:
        table = await self._current(sessions)
        return table.rules.get(extension, table.unknown) if extension else table.unknown

    async def changed(self) -> None:
        """A rule changed here (run after its commit): read them again at the next upload."""
        self._changes += 1
        self._loaded_at = -math.inf

    async def _current(self, sessions: async_sessionmaker[AsyncSession]) -> _Table:
        if self._table is not None and time.monotonic() - self._loaded_at < self._refresh_seconds:
            return self._table
        changes = self._changes
        try:
            table = await self._loading.load(changes, lambda: _load(sessions))
        except SQLAlchemyError as exc:
            if self._table is None:
                raise  # nothing to admit by: the upload gets the database's 503
            # Keep admitting by the last rules rather than refuse every upload.
            log.warning("extension_rules_not_refreshed", error=type(exc).__name__)
            self._loaded_at = time.monotonic()
            return self._table
        self._table = table
        if self._changes == changes:  # else a change committed while this read ran
            self._loaded_at = time.monotonic()
        return table


async def _load(sessions: async_sessionmaker[AsyncSession]) -> _Table:
    async with sessions() as session:
        extensions = await repository.extension_rules(session)
        other = await repository.category_named(session, "other")
    rules = {
        extension.extension: Rule(
            category_id=extension.category.id,
            category=extension.category.name,
            is_allowed=extension.is_allowed,
            max_file_size=extension.max_file_size,
            mime_type=extension.mime_type,
        )
        for extension in extensions
    }
    return _Table(rules, Rule(category_id=other.id, category=other.name))
