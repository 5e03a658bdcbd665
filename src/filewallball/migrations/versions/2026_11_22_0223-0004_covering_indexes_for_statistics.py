"""Covering indexes for the statistics: per-category totals, usage per client, upload outcomes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 02:23:53.513625
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("file_downloads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_file_downloads_created_at_downloader_ip_bytes_downloaded"),
            ["created_at", "downloader_ip", "bytes_downloaded"],
            unique=False,
        )

    with op.batch_alter_table("file_uploads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_file_uploads_upload_started_at_client_ip"),
            ["upload_started_at", "client_ip"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_file_uploads_upload_started_at_upload_status_error_reason"),
            ["upload_started_at", "upload_status", "error_reason"],
            unique=False,
        )

    with op.batch_alter_table("files", schema=None) as batch_op:
        # New before old: MariaDB keeps an index on file_category_id for its foreign key.
        batch_op.create_index(
            batch_op.f("ix_files_file_category_id_is_deleted_created_at_file_size"),
            ["file_category_id", "is_deleted", "created_at", "file_size"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_files_file_category_id_is_deleted_created_at"))


def downgrade() -> None:

    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_files_file_category_id_is_deleted_created_at"),
            ["file_category_id", "is_deleted", "created_at"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_files_file_category_id_is_deleted_created_at_file_size"))

    with op.batch_alter_table("file_uploads", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_file_uploads_upload_started_at_upload_status_error_reason")
        )
        batch_op.drop_index(batch_op.f("ix_file_uploads_upload_started_at_client_ip"))

    with op.batch_alter_table("file_downloads", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_file_downloads_created_at_downloader_ip_bytes_downloaded")
        )
