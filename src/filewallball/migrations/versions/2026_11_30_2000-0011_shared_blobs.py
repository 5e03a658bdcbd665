"""Identical content is stored once: a blob per SHA-256, shared by every file with it.

Existing files are gathered by their SHA-256: each group keeps one blob (one that already has
thumbnails, if any does) and every row of the group points at it. The other copies have no row
left and the crash sweep removes them once they are older than FWB_STALE_UPLOAD_SECONDS.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("refs", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_blobs_storage_key")),
    )
    op.execute(
        """
        INSERT INTO blobs (sha256, storage_key, size, refs, created_at)
        SELECT sha256,
               COALESCE(MIN(CASE WHEN thumbnail_status = 'ready' THEN storage_path END),
                        MIN(storage_path)),
               MAX(file_size), COUNT(*), MIN(created_at)
        FROM files
        GROUP BY sha256
        """
    )
    op.execute(
        """
        UPDATE files
        SET storage_path = (SELECT storage_key FROM blobs WHERE blobs.sha256 = files.sha256)
        """
    )


def downgrade() -> None:
    # The rows keep pointing at the shared blobs, which stay: nothing is lost going back.
    op.drop_table("blobs")
