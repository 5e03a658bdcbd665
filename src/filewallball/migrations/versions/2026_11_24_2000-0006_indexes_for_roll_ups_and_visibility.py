"""Indexes follow the roll-ups: the log indexes that served the statistics go, and the
per-category index also covers what a caller may see.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 20:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

CATEGORY_TOTALS = [
    "file_category_id",
    "is_deleted",
    "created_at",
    "file_size",
    "is_public",
    "owner_key_id",
]
# Statistics read the roll-ups now: these only slowed every log write.
LOG_INDEXES = {
    "file_uploads": [
        ["upload_started_at", "client_ip"],
        ["upload_started_at", "upload_status", "error_reason"],
    ],
    "file_downloads": [["created_at", "downloader_ip", "bytes_downloaded"]],
    "files": [["created_at", "owner_key_id"]],
}


def _name(table: str, columns: list[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        # New before old: MariaDB keeps an index on file_category_id for its foreign key.
        batch_op.create_index("ix_files_category_totals", CATEGORY_TOTALS, unique=False)
        batch_op.drop_index(op.f("ix_files_file_category_id_is_deleted_created_at_file_size"))
    for table, indexes in LOG_INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for columns in indexes:
                batch_op.drop_index(op.f(_name(table, columns)))


def downgrade() -> None:
    for table, indexes in LOG_INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for columns in indexes:
                batch_op.create_index(op.f(_name(table, columns)), columns, unique=False)
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index(
            op.f("ix_files_file_category_id_is_deleted_created_at_file_size"),
            ["file_category_id", "is_deleted", "created_at", "file_size"],
            unique=False,
        )
        batch_op.drop_index("ix_files_category_totals")
