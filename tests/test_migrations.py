"""Alembic builds the same schema on SQLite and MariaDB, and can go back and forth."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import Engine, inspect, text

from filewallball import migrations
from filewallball.settings import Settings
from tests.conftest import Backend

TABLES = {
    "files",
    "file_categories",
    "file_extensions",
    "file_uploads",
    "file_views",
    "file_downloads",
    "file_tags",
    "file_tag_relations",
    "system_settings",
}


def test_upgrade_downgrade_upgrade(backend: Backend, database: Engine) -> None:
    settings = Settings(database_url=backend.database_url)
    migrations.downgrade(settings, "base")
    assert TABLES.isdisjoint(inspect(database).get_table_names())

    migrations.upgrade(settings)

    inspector = inspect(database)
    assert set(inspector.get_table_names()) >= TABLES
    assert "file_statistics" in inspector.get_view_names()
    indexed = {tuple(index["column_names"]) for index in inspector.get_indexes("files")}
    assert ("file_extension", "is_deleted", "created_at") in indexed
    assert ("is_deleted", "created_at") in indexed
    with database.connect() as connection:
        categories = set(connection.execute(text("SELECT name FROM file_categories")).scalars())
        refused = set(
            connection.execute(
                text("SELECT extension FROM file_extensions WHERE is_allowed = 0")
            ).scalars()
        )
        statistics = connection.execute(text("SELECT COUNT(*) FROM file_statistics")).scalar_one()
    assert {"image", "video", "audio", "document", "text", "archive", "code", "other"} <= categories
    assert {
        "exe",
        "dll",
        "bat",
        "cmd",
        "com",
        "msi",
        "scr",
        "ps1",
        "vbs",
        "jar",
        "php",
        "phtml",
        "jsp",
        "asp",
        "aspx",
    } <= refused
    assert statistics == len(categories)


def test_mariadb_tables_are_utf8mb4(backend: Backend, database: Engine) -> None:
    if backend.name != "mariadb":
        pytest.skip("character sets are a MariaDB matter")
    with database.connect() as connection:
        charsets = set(
            connection.execute(
                text(
                    "SELECT DISTINCT CCSA.character_set_name FROM information_schema.TABLES T "
                    "JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY CCSA "
                    "ON CCSA.collation_name = T.table_collation "
                    "WHERE T.table_schema = DATABASE() AND T.table_type = 'BASE TABLE'"
                )
            ).scalars()
        )
    assert charsets == {"utf8mb4"}


def test_replicas_migrating_at_once_all_succeed(backend: Backend, database: Engine) -> None:
    if backend.name != "mariadb":
        pytest.skip("several replicas share a MariaDB; SQLite serves one machine")
    settings = Settings(database_url=backend.database_url)
    migrations.downgrade(settings, "base")
    env = {**os.environ, "FWB_DATABASE_URL": backend.database_url}
    replicas = [
        subprocess.Popen(
            [sys.executable, "-m", "filewallball", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [replica.communicate(timeout=120)[0].decode() for replica in replicas]
    assert [replica.returncode for replica in replicas] == [0, 0, 0], outputs
    with database.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM file_categories")).scalar_one() == 9
