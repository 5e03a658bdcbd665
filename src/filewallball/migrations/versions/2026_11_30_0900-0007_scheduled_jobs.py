"""A job may carry a unique key, so that replicas scheduling the same periodic job at once
add it only once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("unique_key", sa.String(length=100), nullable=True))
        batch.create_unique_constraint("uq_jobs_unique_key", ["unique_key"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("uq_jobs_unique_key", type_="unique")
        batch.drop_column("unique_key")
