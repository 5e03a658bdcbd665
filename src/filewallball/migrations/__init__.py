"""Schema migrations, run by `filewallball migrate` and before `filewallball serve`."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from filewallball.settings import Settings


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", "filewallball:migrations")
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database to `revision`; safe to run from several replicas at once on MariaDB."""
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)
