"""Tables of the file catalogue and its activity logs."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from filewallball.db import Base, BigId, UTCDateTime, utcnow


class FileCategory(Base):
    __tablename__ = "file_categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FileExtension(Base):
    __tablename__ = "file_extensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    extension: Mapped[str] = mapped_column(String(20), unique=True)
    mime_type: Mapped[str] = mapped_column(String(100))
    category_id: Mapped[int] = mapped_column(ForeignKey("file_categories.id"))
    is_allowed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # None: only the global FWB_MAX_FILE_SIZE applies.
    max_file_size: Mapped[int | None] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    category: Mapped[FileCategory] = relationship(lazy="joined")


class FileTag(Base):
    __tablename__ = "file_tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Binary collation on MariaDB: "resume" and "résumé" are different tags.
    tag_name: Mapped[str] = mapped_column(
        String(50).with_variant(mysql.VARCHAR(50, collation="utf8mb4_bin"), "mysql", "mariadb"),
        unique=True,
    )
    tag_color: Mapped[str] = mapped_column(String(7), default="#007bff")
    description: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FileTagRelation(Base):
    __tablename__ = "file_tag_relations"
    __table_args__ = (
        UniqueConstraint("file_id", "tag_id"),
        Index(None, "tag_id", "file_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    tag_id: Mapped[int] = mapped_column(ForeignKey("file_tags.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class File(Base):
    __tablename__ = "files"
    __table_args__ = (
        # The list endpoint: newest first among live files, optionally by extension or category.
        Index(None, "is_deleted", "created_at"),
        Index(None, "file_extension", "is_deleted", "created_at"),
        # Past created_at it also covers the per-category totals: all of them for the
        # file_statistics view, and those a caller may see for GET /categories.
        Index(
            "ix_files_category_totals",
            "file_category_id",
            "is_deleted",
            "created_at",
            "file_size",
            "is_public",
            "owner_key_id",
        ),
        Index(None, "is_deleted", "download_count"),  # the most downloaded files
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    file_uuid: Mapped[str] = mapped_column(
        String(36), unique=True, default=lambda: str(uuid.uuid4())
    )
    original_filename: Mapped[str] = mapped_column(String(255))
    stored_filename: Mapped[str] = mapped_column(String(255))
    file_extension: Mapped[str] = mapped_column(String(20))
    mime_type: Mapped[str] = mapped_column(String(100))
    file_size: Mapped[int] = mapped_column(BigInteger)
    # MD5 of the product documents, hashed as the bytes arrive (by a job in earlier releases:
    # null until that job has run).
    file_hash: Mapped[str | None] = mapped_column(String(32), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_path: Mapped[str] = mapped_column(String(500))
    file_category_id: Mapped[int] = mapped_column(ForeignKey("file_categories.id"))
    is_public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The API key that uploaded it; None for an anonymous upload, which gets a delete token.
    owner_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), index=True)
    delete_token_hash: Mapped[str | None] = mapped_column(String(64))
    # Raster images get thumbnails: none (not an image), pending, ready or failed.
    thumbnail_status: Mapped[str] = mapped_column(String(10), default="none", server_default="none")
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    image_format: Mapped[str | None] = mapped_column(String(10))
    view_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    download_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Changes with the metadata, not with the counters.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When `filewallball fsck --repair` found its bytes gone: it answers 410 from then on.
    lost_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An expiring link: gone (410) after this time, or once this many downloads were granted;
    # `filewallball cleanup` purges it afterwards.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    max_downloads: Mapped[int | None] = mapped_column(Integer)
    downloads_granted: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    category: Mapped[FileCategory] = relationship(lazy="joined")
    tags: Mapped[list[FileTag]] = relationship(
        secondary="file_tag_relations", lazy="selectin", order_by=FileTag.tag_name
    )


class Blob(Base):
    """Stored bytes, once per content: every file with this SHA-256 points at `storage_key`,
    and `refs` counts those rows (soft-deleted ones too: their bytes stay until purged). The
    bytes go when the last row is purged."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    storage_key: Mapped[str] = mapped_column(String(500), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    refs: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FileUpload(Base):
    """One upload attempt, successful or not; failed attempts have no file."""

    __tablename__ = "file_uploads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    upload_session_id: Mapped[str | None] = mapped_column(String(64), index=True)
    client_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    upload_status: Mapped[str] = mapped_column(String(20))
    error_reason: Mapped[str | None] = mapped_column(String(50))
    bytes_received: Mapped[int] = mapped_column(BigInteger, default=0)
    upload_started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    upload_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FileView(Base):
    __tablename__ = "file_views"
    __table_args__ = (Index(None, "file_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    viewer_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    view_type: Mapped[str] = mapped_column(String(20))
    session_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class FileDownload(Base):
    __tablename__ = "file_downloads"
    __table_args__ = (Index(None, "file_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    downloader_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    download_method: Mapped[str] = mapped_column(String(10))
    status_code: Mapped[int] = mapped_column(Integer)
    bytes_downloaded: Mapped[int] = mapped_column(BigInteger)
    download_duration_ms: Mapped[int] = mapped_column(Integer)
    completed: Mapped[bool] = mapped_column(Boolean)
    session_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


# A database view built by the migrations; kept out of Base.metadata so nothing tries to create it.
file_statistics = Table(
    "file_statistics",
    MetaData(),
    Column("category_id", Integer, primary_key=True),
    Column("category_name", String(50)),
    Column("file_count", BigInteger),
    Column("total_size", BigInteger),
    Column("avg_file_size", Float),
    Column("last_upload", UTCDateTime),
)
