"""An unfinished upload and the chunks it has received so far.

The offset, the owner and the chunks live in the database and the chunks' bytes in storage,
so that any replica can take the next chunk; a chunk counts only once its row commits, with the
offset it moved.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from filewallball.db import Base, UTCDateTime, utcnow


class ResumableUpload(Base):
    __tablename__ = "resumable_uploads"
    __table_args__ = (
        Index(None, "client", "file_id"),  # a client's unfinished uploads, counted at creation
        Index(None, "expires_at"),  # the sweep's expired uploads
    )

    # Random and unguessable: for an anonymous upload, knowing its URL is owning it.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    client: Mapped[str] = mapped_column(String(100))  # the key's label or the address's bucket
    kind: Mapped[str] = mapped_column(String(10))  # single, partial or final
    parts: Mapped[str | None] = mapped_column(Text)  # a final upload's partials' ids, in order
    length: Mapped[int] = mapped_column(BigInteger)
    upload_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    # Upload-Metadata as sent (echoed by HEAD), and what we read from it.
    metadata_header: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[str | None] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The file the upload became, once its last byte went through the pipeline.
    file_id: Mapped[str | None] = mapped_column(String(36))
    # The database's lock on the upload, for when Redis is not configured or cannot be reached.
    lock_token: Mapped[str | None] = mapped_column(String(32))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ResumableChunk(Base):
    """Bytes `start` to `start + size` of an upload, stored under `key`."""

    __tablename__ = "resumable_chunks"

    upload_id: Mapped[str] = mapped_column(
        ForeignKey("resumable_uploads.id", ondelete="CASCADE"), primary_key=True
    )
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(200), unique=True)
