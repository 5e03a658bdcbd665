"""Expiring links: a file may expire at a time, or after so many downloads.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# SQLite rebuilds `files` to drop a column, which it refuses while a view reads the table: the
# view is dropped around the change and made again, unchanged since 0003.
FILE_STATISTICS = """
    CREATE VIEW file_statistics AS
    SELECT c.id AS category_id,
           c.name AS category_name,
           COUNT(f.id) AS file_count,
           COALESCE(SUM(f.file_size), 0) AS total_size,
           AVG(f.file_size) AS avg_file_size,
           MAX(f.created_at) AS last_upload
    FROM file_categories c
    LEFT JOIN files f ON f.file_category_id = c.id AND f.is_deleted = 0
    GROUP BY c.id, c.name
"""


def upgrade() -> None:
    # Added one by one, never rebuilding the table.
    op.add_column("files", sa.Column("expires_at", TIMESTAMP, nullable=True))
    op.add_column("files", sa.Column("max_downloads", sa.Integer(), nullable=True))
    op.add_column(
        "files",
        sa.Column("downloads_granted", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_index(op.f("ix_files_expires_at"), "files", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_files_expires_at"), table_name="files")
    op.execute("DROP VIEW file_statistics")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("downloads_granted")
        batch.drop_column("max_downloads")
        batch.drop_column("expires_at")
    op.execute(FILE_STATISTICS)
