"""Alembic builds the same schema on SQLite and MariaDB, and can go back and forth."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from filewallball import (
    migrations,
    rollup,  # noqa: F401
)
from filewallball.access import models as access_models  # noqa: F401  (registers tables)
from filewallball.db import Base
from filewallball.files import models as files_models  # noqa: F401
from filewallball.jobs import models as jobs_models  # noqa: F401
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


def test_the_migrations_build_what_the_models_describe(backend: Backend, database: Engine) -> None:
    migrations.upgrade(Settings(database_url=backend.database_url))
    with database.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


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


def test_upgrading_counts_the_activity_already_logged(backend: Backend, database: Engine) -> None:
    settings = Settings(database_url=backend.database_url)
    migrations.downgrade(settings, "base")
    migrations.upgrade(settings, "0004")
    with database.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO api_keys (id, key_id, name, role, secret_hash, created_at) "
                "VALUES (1, 'k1', 'team', 'uploader', :hash, '2026-03-01 00:00:00')"
            ),
            {"hash": "0" * 64},
        )
        connection.execute(
            text(
                "INSERT INTO files (id, file_uuid, original_filename, stored_filename, "
                "file_extension, mime_type, file_size, sha256, storage_path, file_category_id, "
                "is_public, is_deleted, view_count, download_count, thumbnail_status, "
                "owner_key_id, created_at, updated_at) VALUES (1, :uuid, 'a.txt', 'x', 'txt', "
                "'text/plain', 5, :sha, 'x/x', 1, 1, 0, 0, 0, 'none', 1, "
                "'2026-03-31 23:00:00', '2026-03-31 23:00:00')"
            ),
            {"uuid": "6f1c8f4e-6d2b-4b8e-9a57-1d2f3c4b5a69", "sha": "0" * 64},
        )
        connection.execute(
            text(
                "INSERT INTO file_uploads (file_id, client_ip, upload_status, error_reason, "
                "bytes_received, upload_started_at) VALUES "
                "(1, '198.51.100.1', 'completed', NULL, 5, '2026-03-31 23:00:00'), "
                "(NULL, '198.51.100.1', 'failed', 'too_large', 9, '2026-04-01 01:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO file_downloads (file_id, downloader_ip, download_method, "
                "status_code, bytes_downloaded, download_duration_ms, completed, created_at) "
                "VALUES (1, '198.51.100.2', 'GET', 200, 5, 1, 1, '2026-04-01 02:00:00'), "
                "(1, '198.51.100.2', 'GET', 206, 2, 1, 1, '2026-04-01 03:00:00'), "
                "(1, '198.51.100.2', 'HEAD', 200, 0, 1, 1, '2026-04-01 04:00:00'), "
                "(1, '198.51.100.2', 'GET', 304, 0, 1, 1, '2026-04-01 05:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO file_views (file_id, viewer_ip, view_type, created_at) "
                "VALUES (1, '198.51.100.3', 'info', '2026-04-01 06:00:00')"
            )
        )

    migrations.upgrade(settings)

    with database.connect() as connection:
        days = connection.execute(
            text(
                "SELECT day, uploads, uploads_completed, downloads, bytes_downloaded, views "
                "FROM daily_activity ORDER BY day"
            )
        ).all()
        errors = connection.execute(
            text("SELECT day, reason, count FROM daily_upload_errors")
        ).all()
        clients = connection.execute(
            text(
                "SELECT span, period, client, uploads, downloads, bytes_downloaded "
                "FROM client_activity ORDER BY span, period, client"
            )
        ).all()
    # Whole and ranged GETs count; HEAD and 304 do not. A keyed upload counts for its key.
    assert [(str(day), *rest) for day, *rest in days] == [
        ("2026-03-31", 1, 1, 0, 0, 0),
        ("2026-04-01", 1, 0, 2, 7, 1),
    ]
    assert [(str(day), *rest) for day, *rest in errors] == [("2026-04-01", "too_large", 1)]
    assert [(span, str(period), *rest) for span, period, *rest in clients] == [
        ("day", "2026-03-31", "key:k1", 1, 0, 0),
        ("day", "2026-04-01", "ip:198.51.100.1", 1, 0, 0),
        ("day", "2026-04-01", "ip:198.51.100.2", 0, 2, 7),
        ("month", "2026-03-01", "key:k1", 1, 0, 0),
        ("month", "2026-04-01", "ip:198.51.100.1", 1, 0, 0),
        ("month", "2026-04-01", "ip:198.51.100.2", 0, 2, 7),
    ]


def test_upgrading_shares_one_blob_among_files_of_one_content(
    backend: Backend, database: Engine
) -> None:
    settings = Settings(database_url=backend.database_url)
    migrations.downgrade(settings, "base")
    migrations.upgrade(settings, "0010")
    same, other = "a" * 64, "b" * 64
    with database.begin() as connection:
        for pk, sha, path, thumbnails in (
            (1, same, "aa/aa/first", "none"),
            (2, same, "bb/bb/second", "ready"),  # its thumbnails make it the one kept
            (3, other, "cc/cc/third", "none"),
        ):
            connection.execute(
                text(
                    "INSERT INTO files (id, file_uuid, original_filename, stored_filename, "
                    "file_extension, mime_type, file_size, sha256, storage_path, "
                    "file_category_id, is_public, is_deleted, view_count, download_count, "
                    "thumbnail_status, downloads_granted, created_at, updated_at) VALUES "
                    "(:pk, :uuid, 'a.png', 'x', 'png', 'image/png', 5, :sha, :path, 1, 1, 0, "
                    "0, 0, :thumbnails, 0, '2026-03-31 23:00:00', '2026-03-31 23:00:00')"
                ),
                {
                    "pk": pk,
                    "uuid": f"6f1c8f4e-6d2b-4b8e-9a57-1d2f3c4b5a6{pk}",
                    "sha": sha,
                    "path": path,
                    "thumbnails": thumbnails,
                },
            )

    migrations.upgrade(settings)

    with database.connect() as connection:
        paths = connection.execute(text("SELECT id, storage_path FROM files ORDER BY id")).all()
        blobs = connection.execute(
            text("SELECT sha256, storage_key, refs FROM blobs ORDER BY sha256")
        ).all()
    assert [tuple(row) for row in paths] == [
        (1, "bb/bb/second"),
        (2, "bb/bb/second"),
        (3, "cc/cc/third"),
    ]
    assert [tuple(row) for row in blobs] == [(same, "bb/bb/second", 2), (other, "cc/cc/third", 1)]
