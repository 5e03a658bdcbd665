"""Activity rolled up as it happens, so that statistics read a few rows per day instead of
every log row: one row per day, one per day and upload error, one per client and day or
month. The logs stay the record of each event; these are sums of them."""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from filewallball.db import Base

# Clustered on the primary key on both databases (InnoDB always, SQLite WITHOUT ROWID): a
# range of days is one contiguous read that holds every column.
CLUSTERED = {"sqlite_with_rowid": False}


def counter() -> Mapped[int]:
    return mapped_column(BigInteger, default=0, server_default="0")


class DailyActivity(Base):
    __tablename__ = "daily_activity"
    __table_args__ = CLUSTERED

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    uploads: Mapped[int] = counter()  # attempted
    uploads_completed: Mapped[int] = counter()
    downloads: Mapped[int] = counter()  # bodies sent: GET, whole or ranged
    bytes_downloaded: Mapped[int] = counter()
    views: Mapped[int] = counter()  # info and preview


class DailyUploadError(Base):
    __tablename__ = "daily_upload_errors"
    __table_args__ = CLUSTERED

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(50), primary_key=True)
    count: Mapped[int] = counter()


class ClientActivity(Base):
    """Per client ('ip:<address>' or 'key:<key id>') and per day, and again per month: a
    year's range reads twelve months and the odd days at its ends, not 365 days."""

    __tablename__ = "client_activity"
    __table_args__ = CLUSTERED

    span: Mapped[str] = mapped_column(String(5), primary_key=True)  # 'day' or 'month'
    period: Mapped[date] = mapped_column(Date, primary_key=True)  # the day, or the month's first
    client: Mapped[str] = mapped_column(String(80), primary_key=True)
    uploads: Mapped[int] = counter()
    downloads: Mapped[int] = counter()
    bytes_downloaded: Mapped[int] = counter()
