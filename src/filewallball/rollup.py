"""Activity rolled up as it happens, so that statistics read a few rows per day instead of
every log row: one row per day, one per day and upload error, one per client and day or
month. The logs stay the record of each event; these are sums of them.

Each event is counted in the transaction that writes its log row: the sums never disagree
with the logs, on any replica, whatever commits or rolls back. Uploads count one at a time
(`count`); views and downloads arrive in batches, summed per day and client (`count_reads`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Insert, String, Table
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from filewallball.access.roles import Actor
from filewallball.db import Base, utcnow

# Clustered on the primary key on both databases (InnoDB always, SQLite WITHOUT ROWID): a
# range of days is one contiguous read that holds every column.
CLUSTERED = {"sqlite_with_rowid": False}


def counter() -> Mapped[int]:
    return mapped_column(BigInteger, default=0, server_default="0")


class DailyActivity(Base):
    __tablename__ = "daily_activity"
    __table_args__ = CLUSTERED

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    uploads: Mapped[int] = counter()  # attempted
    uploads_completed: Mapped[int] = counter()
    downloads: Mapped[int] = counter()  # bodies sent: GET, whole or ranged
    bytes_downloaded: Mapped[int] = counter()
    views: Mapped[int] = counter()  # info and preview


class DailyUploadError(Base):
    __tablename__ = "daily_upload_errors"
    __table_args__ = CLUSTERED

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(50), primary_key=True)
    count: Mapped[int] = counter()


class ClientActivity(Base):
    """Per client ('ip:<address>' or 'key:<key id>') and per day, and again per month: a
    year's range reads twelve months and the odd days at its ends, not 365 days."""

    __tablename__ = "client_activity"
    __table_args__ = CLUSTERED

    span: Mapped[str] = mapped_column(String(5), primary_key=True)  # 'day' or 'month'
    period: Mapped[date] = mapped_column(Date, primary_key=True)  # the day, or the month's first
    client: Mapped[str] = mapped_column(String(80), primary_key=True)
    uploads: Mapped[int] = counter()
    downloads: Mapped[int] = counter()
    bytes_downloaded: Mapped[int] = counter()


def client_label(actor: Actor, ip: str | None) -> str:
    """A caller with a key is counted under the key, wherever it calls from."""
    return f"key:{actor.key_id}" if actor.key_id else f"ip:{ip or 'unknown'}"


@functools.cache
def _adding(dialect: str, model: type[Base], names: tuple[str, ...]) -> Insert:
    """INSERT a row, or add its counters to the row already there: atomic on both databases,
    so concurrent events on the same day never lose a count. Built once per shape and run
    with each call's rows: building and caching a statement cost more than running it."""
    table = model.__table__
    assert isinstance(table, Table)
    keys = [column.name for column in table.primary_key]
    counters = [name for name in names if name not in keys]
    if dialect == "sqlite":
        on_sqlite = sqlite.insert(table)
        return on_sqlite.on_conflict_do_update(
            index_elements=keys,
            set_={name: table.c[name] + on_sqlite.excluded[name] for name in counters},
        )
    on_mariadb = mysql.insert(table)
    return on_mariadb.on_duplicate_key_update(
        {name: table.c[name] + on_mariadb.inserted[name] for name in counters}
    )


async def _add_to(session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Add `rows`, each a primary key's values and counters, to `model`'s table."""
    statement = _adding(session.get_bind().dialect.name, model, tuple(rows[0]))
    await session.execute(statement, rows)


async def count(
    session: AsyncSession,
    client: str,
    *,
    at: datetime | None = None,
    uploads_completed: int = 0,
    error: str | None = None,
) -> None:
    """One upload attempt by `client`: completed, or failed with `error`. (Views and
    downloads come summed per batch, through `count_reads`.)"""
    day = (at or utcnow()).date()
    # Always in this order, so that two transactions never wait on each other's rows.
    daily = {"day": day, "uploads": 1, "uploads_completed": uploads_completed}
    await _add_to(session, DailyActivity, [daily])
    if error is not None:
        await _add_to(session, DailyUploadError, [{"day": day, "reason": error, "count": 1}])
    usage = {"uploads": 1, "downloads": 0, "bytes_downloaded": 0}
    await _add_to(
        session,
        ClientActivity,
        [
            {"span": "day", "period": day, "client": client, **usage},
            {"span": "month", "period": month_of(day), "client": client, **usage},
        ],
    )


async def count_reads(
    session: AsyncSession, day: date, *, views: int, usage: Mapping[str, tuple[int, int]]
) -> None:
    """One day's batch of views and downloads, already summed: `usage` maps each client to
    its (downloads, bytes downloaded). One upsert per table, whatever the batch's size."""
    downloads = sum(count for count, _ in usage.values())
    sent = sum(size for _, size in usage.values())
    daily = {"day": day, "downloads": downloads, "bytes_downloaded": sent, "views": views}
    await _add_to(session, DailyActivity, [daily])
    if usage:
        # Rows in primary-key order, the order `count` takes them in too: no two batches, nor a
        # batch and an upload, wait on each other's rows in opposite orders.
        rows = [
            {"span": span, "period": period, "client": client, "uploads": 0,
             "downloads": count, "bytes_downloaded": size}
            for span, period in (("day", day), ("month", month_of(day)))
            for client, (count, size) in sorted(usage.items())
        ]  # fmt: skip
        await _add_to(session, ClientActivity, rows)


def month_of(day: date) -> date:
    return day.replace(day=1)
