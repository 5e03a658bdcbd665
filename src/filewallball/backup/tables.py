"""The metadata as portable rows: every table read in one transaction (so the snapshot is
consistent while the service keeps writing), written as gzipped JSON lines, and loaded back into
SQLite or MariaDB with the same ids.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Table, TypeDecorator, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from filewallball import rollup, system_settings
from filewallball.access import models as access_models
from filewallball.db import Base
from filewallball.files import models as files_models
from filewallball.jobs import models as jobs_models
from filewallball.resumable import models as resumable_models

# Imported for their tables: the metadata must know every one of them.
_MODELS = (rollup, system_settings, access_models, files_models, jobs_models, resumable_models)
# Seeded by the migrations, or written by a fresh instance's first start (its sweep jobs): an
# instance holding only these is still empty.
CATALOGUE = frozenset({"file_categories", "file_extensions", "jobs"})
BATCH = 1000


def all_tables() -> list[Table]:
    """Every table, parents before the tables that refer to them."""
    return list(Base.metadata.sorted_tables)


def table_named(name: str) -> Table:
    return Base.metadata.tables[name]


@asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose reads all see the database as it was at the first one. MariaDB's
    repeatable read does that inside a transaction; SQLite does it in WAL mode inside an
    explicit one, which its driver would not begin for reads on its own."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            await connection.exec_driver_sql("BEGIN")
        else:
            await connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            await connection.exec_driver_sql(
                "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
            )
        try:
            yield connection
        finally:
            await connection.rollback()


async def schema_revision(connection: AsyncConnection) -> str:
    return str(
        (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    )


async def rows(connection: AsyncConnection, table: Table) -> AsyncIterator[dict[str, Any]]:
    """The table's rows in primary-key order (a key refers to one made before it)."""
    query = select(table).order_by(*table.primary_key.columns)
    result = await connection.stream(query)
    async for row in result.mappings():
        yield {name: _portable(value) for name, value in row.items()}


def encoded(records: Iterable[dict[str, Any]], compressor: Any) -> bytes:
    """Rows as gzipped JSON lines, continuing `compressor`'s stream."""
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    return bytes(compressor.compress(lines.encode()))


def compressor() -> Any:
    return zlib.compressobj(wbits=31)  # gzip framing: `zcat` reads the files


async def decoded(chunks: AsyncIterable[bytes]) -> AsyncIterator[dict[str, Any]]:
    """Rows back from gzipped JSON lines."""
    decompressor = zlib.decompressobj(wbits=31)
    pending = b""
    async for chunk in chunks:
        pending += decompressor.decompress(chunk)
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield json.loads(line)
    pending += decompressor.flush()
    if pending.strip():
        yield json.loads(pending)


def _portable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def native(table: Table, record: dict[str, Any]) -> dict[str, Any]:
    """A portable row made fit for the table's columns again."""
    converted = dict(record)
    for column in table.columns:
        value = converted.get(column.name)
        if value is None:
            continue
        kind = _python_type(column)
        if kind is datetime:
            converted[column.name] = datetime.fromisoformat(value)
        elif kind is date:
            converted[column.name] = date.fromisoformat(value)
    return converted


def _python_type(column: Column[Any]) -> type:
    kind = column.type
    if isinstance(kind, TypeDecorator):  # UTCDateTime: its own python_type is `object`
        kind = kind.impl_instance
    return kind.python_type


async def is_empty(connection: AsyncConnection) -> bool:
    """Whether the instance holds nothing but the seeded catalogue."""
    for table in all_tables():
        if table.name in CATALOGUE:
            continue
        if await connection.scalar(select(func.count()).select_from(table)):
            return False
    return True


async def clear(connection: AsyncConnection) -> None:
    """Delete every row, children before parents."""
    for table in reversed(all_tables()):
        if table.name == "api_keys":
            await connection.execute(table.update().values(created_by=None))
        await connection.execute(delete(table))


async def mark_missing(connection: AsyncConnection, keys: list[str], when: datetime) -> None:
    """Files whose blob is in `keys` are lost; unfinished uploads missing a chunk are removed."""
    files, chunks = table_named("files"), table_named("resumable_chunks")
    uploads = table_named("resumable_uploads")
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        await connection.execute(
            files.update().where(files.c.storage_path.in_(batch)).values(lost_at=when)
        )
        broken = select(chunks.c.upload_id).where(chunks.c.key.in_(batch))
        doomed = list((await connection.scalars(broken)).all())
        if doomed:
            await connection.execute(delete(chunks).where(chunks.c.upload_id.in_(doomed)))
            await connection.execute(delete(uploads).where(uploads.c.id.in_(doomed)))


async def insert_rows(
    connection: AsyncConnection, table: Table, records: list[dict[str, Any]]
) -> None:
    if records:
        await connection.execute(insert(table), [native(table, record) for record in records])
