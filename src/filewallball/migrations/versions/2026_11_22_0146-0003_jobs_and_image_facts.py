"""Durable background jobs, and the image facts and thumbnail state of files.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:46:52.237731
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# SQLite may rebuild `files` to drop columns, which it refuses while a view reads the table:
# the view is dropped around the change and made again, unchanged from 0001.
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

    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", TIMESTAMP, nullable=False),
        sa.Column("lease_until", TIMESTAMP, nullable=True),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_jobs_state_run_after"), ["state", "run_after"], unique=False
        )

    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_files_is_deleted_download_count"), ["is_deleted", "download_count"]
        )
        batch_op.create_index(
            batch_op.f("ix_files_created_at_owner_key_id"), ["created_at", "owner_key_id"]
        )
        batch_op.add_column(
            sa.Column(
                "thumbnail_status", sa.String(length=10), server_default="none", nullable=False
            )
        )
        batch_op.add_column(sa.Column("width", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("height", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("image_format", sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.execute("DROP VIEW file_statistics")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_files_created_at_owner_key_id"))
        batch_op.drop_index(batch_op.f("ix_files_is_deleted_download_count"))
        batch_op.drop_column("image_format")
        batch_op.drop_column("height")
        batch_op.drop_column("width")
        batch_op.drop_column("thumbnail_status")
    op.execute(FILE_STATISTICS)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_state_run_after"))

    op.drop_table("jobs")
