"""API keys, file ownership (owner key, anonymous delete token) and the audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:15:18.021369
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# SQLite rebuilds `files` to add a foreign key, which it refuses while a view reads the table:
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
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["api_keys.id"], name=op.f("fk_api_keys_created_by_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    op.create_table(
        "audit_logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
    )
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_logs_action_created_at"), ["action", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_audit_logs_actor_created_at"), ["actor", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_logs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_logs_target_created_at"), ["target", "created_at"], unique=False
        )

    op.execute("DROP VIEW file_statistics")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_key_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("delete_token_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_files_owner_key_id"), ["owner_key_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_files_owner_key_id_api_keys"), "api_keys", ["owner_key_id"], ["id"]
        )
    op.execute(FILE_STATISTICS)


def downgrade() -> None:

    op.execute("DROP VIEW file_statistics")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_files_owner_key_id_api_keys"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_files_owner_key_id"))
        batch_op.drop_column("delete_token_hash")
        batch_op.drop_column("owner_key_id")
    op.execute(FILE_STATISTICS)

    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_logs_target_created_at"))
        batch_op.drop_index(batch_op.f("ix_audit_logs_created_at"))
        batch_op.drop_index(batch_op.f("ix_audit_logs_actor_created_at"))
        batch_op.drop_index(batch_op.f("ix_audit_logs_action_created_at"))

    op.drop_table("audit_logs")
    op.drop_table("api_keys")
