"""Alembic environment: the app's metadata, and the database URL from the app's settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from filewallball import (
    rollup,  # noqa: F401
    system_settings,  # noqa: F401
)
from filewallball.access import models as access_models  # noqa: F401  (registers tables)
from filewallball.db import Base, create_engine
from filewallball.files import models as files_models  # noqa: F401
from filewallball.jobs import models as jobs_models  # noqa: F401
from filewallball.resumable import models as resumable_models  # noqa: F401
from filewallball.settings import load_settings

config = context.config


LOCK_NAME = "filewallball_migrations"


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    if connection.dialect.name != "mysql":
        with context.begin_transaction():
            context.run_migrations()
        return
    # Replicas starting together queue on a named lock; the ones after the first find the
    # schema current and do nothing.
    connection.exec_driver_sql(f"SELECT GET_LOCK('{LOCK_NAME}', 600)")
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.exec_driver_sql(f"SELECT RELEASE_LOCK('{LOCK_NAME}')")


async def _run_online() -> None:
    settings = config.attributes.get("settings") or load_settings()
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
            await connection.commit()
    finally:
        await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _migrate(connection)
else:
    asyncio.run(_run_online())
