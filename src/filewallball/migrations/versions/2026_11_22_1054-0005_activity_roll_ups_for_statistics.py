"""Activity roll-ups for the statistics, filled from the logs already there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:54:38.971251
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# The logs as they are at this revision: later models may differ.
files = sa.table("files", sa.column("id"), sa.column("owner_key_id"))
api_keys = sa.table("api_keys", sa.column("id"), sa.column("key_id"))
uploads = sa.table(
    "file_uploads",
    sa.column("file_id"),
    sa.column("client_ip"),
    sa.column("upload_status"),
    sa.column("error_reason"),
    sa.column("upload_started_at"),
)
downloads = sa.table(
    "file_downloads",
    sa.column("downloader_ip"),
    sa.column("download_method"),
    sa.column("status_code"),
    sa.column("bytes_downloaded"),
    sa.column("created_at"),
)
views = sa.table("file_views", sa.column("created_at"))


def upgrade() -> None:
    op.create_table(
        "client_activity",
        sa.Column("span", sa.String(length=5), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("client", sa.String(length=80), nullable=False),
        sa.Column("uploads", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("downloads", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("bytes_downloaded", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("span", "period", "client", name=op.f("pk_client_activity")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "daily_activity",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("uploads", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("uploads_completed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("downloads", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("bytes_downloaded", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("views", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_daily_activity")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "daily_upload_errors",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=50), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", "reason", name=op.f("pk_daily_upload_errors")),
        sqlite_with_rowid=False,
    )
    _fill_from_logs()


def downgrade() -> None:
    op.drop_table("daily_upload_errors")
    op.drop_table("daily_activity")
    op.drop_table("client_activity")


def _day(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])  # SQLite answers DATE() with text


def _fill_from_logs() -> None:
    """The sums the app would have counted, had it counted from the start. Views, downloads
    and uploads without a key are counted under the address, as their logs tell no more."""
    connection = op.get_bind()
    daily: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    errors: dict[tuple[date, str], int] = defaultdict(int)
    clients: dict[tuple[str, date, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add_client(day: date, client: str, **counts: int) -> None:
        for span, period in (("day", day), ("month", day.replace(day=1))):
            for name, n in counts.items():
                clients[span, period, client][name] += n

    upload_day = sa.func.date(uploads.c.upload_started_at)
    for day, ip, key_id, status, reason, n in connection.execute(
        sa.select(
            upload_day,
            uploads.c.client_ip,
            api_keys.c.key_id,
            uploads.c.upload_status,
            uploads.c.error_reason,
            sa.func.count(),
        )
        .select_from(uploads)
        .outerjoin(files, files.c.id == uploads.c.file_id)
        .outerjoin(api_keys, api_keys.c.id == files.c.owner_key_id)
        .group_by(
            upload_day,
            uploads.c.client_ip,
            api_keys.c.key_id,
            uploads.c.upload_status,
            uploads.c.error_reason,
        )
    ):
        day = _day(day)
        completed = status == "completed"
        daily[day]["uploads"] += n
        daily[day]["uploads_completed"] += n if completed else 0
        if not completed:
            errors[day, reason or "unknown"] += n
        add_client(day, f"key:{key_id}" if key_id else f"ip:{ip or 'unknown'}", uploads=n)

    download_day = sa.func.date(downloads.c.created_at)
    for day, ip, n, sent in connection.execute(
        sa.select(
            download_day,
            downloads.c.downloader_ip,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(downloads.c.bytes_downloaded), 0),
        )
        .where(downloads.c.download_method == "GET", downloads.c.status_code.in_([200, 206]))
        .group_by(download_day, downloads.c.downloader_ip)
    ):
        day = _day(day)
        daily[day]["downloads"] += n
        daily[day]["bytes_downloaded"] += int(sent)
        add_client(day, f"ip:{ip or 'unknown'}", downloads=n, bytes_downloaded=int(sent))

    view_day = sa.func.date(views.c.created_at)
    for day, n in connection.execute(sa.select(view_day, sa.func.count()).group_by(view_day)):
        daily[_day(day)]["views"] += n

    _insert("daily_activity", ({"day": day, **counts} for day, counts in daily.items()))
    _insert(
        "daily_upload_errors",
        ({"day": day, "reason": reason, "count": n} for (day, reason), n in errors.items()),
    )
    _insert(
        "client_activity",
        (
            {"span": span, "period": period, "client": client, **counts}
            for (span, period, client), counts in clients.items()
        ),
    )


def _insert(table: str, rows: Iterable[dict[str, Any]], batch: int = 5000) -> None:
    pending = list(rows)
    names = sorted({name for row in pending for name in row})
    target = sa.table(table, *(sa.column(name) for name in names))
    for start in range(0, len(pending), batch):
        # A counter nothing touched on that day is 0.
        chunk = [
            {name: row.get(name, 0) for name in names} for row in pending[start : start + batch]
        ]
        op.get_bind().execute(sa.insert(target), chunk)
