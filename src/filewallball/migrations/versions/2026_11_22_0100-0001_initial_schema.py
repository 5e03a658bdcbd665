"""Initial schema: the file catalogue, its activity logs, the category statistics view,
and the seeded categories and extension rules.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 00:57:10.131320
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# Naive UTC with microseconds; MariaDB's DATETIME needs fsp=6 to keep them.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

CATEGORIES = {
    "image": "Pictures and graphics",
    "video": "Moving pictures",
    "audio": "Sound and music",
    "document": "Office documents, PDF and e-books",
    "text": "Plain text and data formats",
    "code": "Source code",
    "archive": "Compressed and bundled files",
    "executable": "Programs and server scripts (refused by default)",
    "other": "Anything else",
}

# extension -> (mime type, category); executables and server scripts are refused.
EXTENSIONS = {
    **dict.fromkeys(["jpg", "jpeg"], ("image/jpeg", "image")),
    "png": ("image/png", "image"),
    "gif": ("image/gif", "image"),
    "webp": ("image/webp", "image"),
    "bmp": ("image/bmp", "image"),
    **dict.fromkeys(["tif", "tiff"], ("image/tiff", "image")),
    "svg": ("image/svg+xml", "image"),
    "ico": ("image/vnd.microsoft.icon", "image"),
    "heic": ("image/heic", "image"),
    "avif": ("image/avif", "image"),
    "mp4": ("video/mp4", "video"),
    "m4v": ("video/x-m4v", "video"),
    "webm": ("video/webm", "video"),
    "mov": ("video/quicktime", "video"),
    "avi": ("video/x-msvideo", "video"),
    "mkv": ("video/x-matroska", "video"),
    **dict.fromkeys(["mpg", "mpeg"], ("video/mpeg", "video")),
    "mp3": ("audio/mpeg", "audio"),
    "wav": ("audio/wav", "audio"),
    "ogg": ("audio/ogg", "audio"),
    "oga": ("audio/ogg", "audio"),
    "opus": ("audio/opus", "audio"),
    "flac": ("audio/flac", "audio"),
    "m4a": ("audio/mp4", "audio"),
    "aac": ("audio/aac", "audio"),
    "pdf": ("application/pdf", "document"),
    "doc": ("application/msword", "document"),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "document",
    ),
    "xls": ("application/vnd.ms-excel", "document"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document"),
    "ppt": ("application/vnd.ms-powerpoint", "document"),
    "pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "document",
    ),
    "odt": ("application/vnd.oasis.opendocument.text", "document"),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", "document"),
    "odp": ("application/vnd.oasis.opendocument.presentation", "document"),
    "rtf": ("application/rtf", "document"),
    "epub": ("application/epub+zip", "document"),
    "txt": ("text/plain", "text"),
    "log": ("text/plain", "text"),
    "ini": ("text/plain", "text"),
    "cfg": ("text/plain", "text"),
    "conf": ("text/plain", "text"),
    "md": ("text/markdown", "text"),
    "markdown": ("text/markdown", "text"),
    "rst": ("text/x-rst", "text"),
    "csv": ("text/csv", "text"),
    "tsv": ("text/tab-separated-values", "text"),
    "json": ("application/json", "text"),
    "xml": ("application/xml", "text"),
    **dict.fromkeys(["yaml", "yml"], ("application/yaml", "text")),
    "toml": ("application/toml", "text"),
    **dict.fromkeys(["html", "htm"], ("text/html", "text")),
    "py": ("text/x-python", "code"),
    "js": ("text/javascript", "code"),
    "mjs": ("text/javascript", "code"),
    "ts": ("text/x-typescript", "code"),
    "css": ("text/css", "code"),
    "c": ("text/x-c", "code"),
    "h": ("text/x-c", "code"),
    "cpp": ("text/x-c++", "code"),
    "hpp": ("text/x-c++", "code"),
    "java": ("text/x-java", "code"),
    "kt": ("text/x-kotlin", "code"),
    "go": ("text/x-go", "code"),
    "rs": ("text/x-rust", "code"),
    "rb": ("text/x-ruby", "code"),
    "swift": ("text/x-swift", "code"),
    "sh": ("text/x-shellscript", "code"),
    "sql": ("application/sql", "code"),
    "zip": ("application/zip", "archive"),
    "tar": ("application/x-tar", "archive"),
    **dict.fromkeys(["gz", "tgz"], ("application/gzip", "archive")),
    "bz2": ("application/x-bzip2", "archive"),
    "xz": ("application/x-xz", "archive"),
    "zst": ("application/zstd", "archive"),
    "7z": ("application/x-7z-compressed", "archive"),
    "rar": ("application/vnd.rar", "archive"),
}
REFUSED = [
    "exe",
    "dll",
    "sys",
    "bat",
    "cmd",
    "com",
    "msi",
    "msp",
    "scr",
    "pif",
    "cpl",
    "lnk",
    "reg",
    "ps1",
    "psm1",
    "vbs",
    "vbe",
    "jse",
    "wsf",
    "wsh",
    "hta",
    "jar",
    "apk",
    "app",
    "deb",
    "rpm",
    "php",
    "php3",
    "php4",
    "php5",
    "php7",
    "phtml",
    "phar",
    "jsp",
    "jspx",
    "asp",
    "aspx",
    "ascx",
    "ashx",
    "asmx",
    "cgi",
    "shtml",
]

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
        "file_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_categories")),
        sa.UniqueConstraint("name", name=op.f("uq_file_categories_name")),
    )
    op.create_table(
        "file_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "tag_name",
            sa.String(length=50).with_variant(
                mysql.VARCHAR(50, collation="utf8mb4_bin"), "mysql", "mariadb"
            ),
            nullable=False,
        ),
        sa.Column("tag_color", sa.String(length=7), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_tags")),
        sa.UniqueConstraint("tag_name", name=op.f("uq_file_tags_tag_name")),
    )
    op.create_table(
        "system_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("setting_key", sa.String(length=100), nullable=False),
        sa.Column("setting_value", sa.Text(), nullable=True),
        sa.Column("setting_type", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("is_public", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_settings")),
        sa.UniqueConstraint("setting_key", name=op.f("uq_system_settings_setting_key")),
    )
    op.create_table(
        "file_extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("extension", sa.String(length=20), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("is_allowed", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("max_file_size", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["file_categories.id"],
            name=op.f("fk_file_extensions_category_id_file_categories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_extensions")),
        sa.UniqueConstraint("extension", name=op.f("uq_file_extensions_extension")),
    )
    op.create_table(
        "files",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("file_uuid", sa.String(length=36), nullable=False),
        sa.Column("original_filename", sa.String(length=255), nullable=False),
        sa.Column("stored_filename", sa.String(length=255), nullable=False),
        sa.Column("file_extension", sa.String(length=20), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("file_hash", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_path", sa.String(length=500), nullable=False),
        sa.Column("file_category_id", sa.Integer(), nullable=False),
        sa.Column("is_public", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("view_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("download_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["file_category_id"],
            ["file_categories.id"],
            name=op.f("fk_files_file_category_id_file_categories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
        sa.UniqueConstraint("file_uuid", name=op.f("uq_files_file_uuid")),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_files_file_category_id_is_deleted_created_at"),
            ["file_category_id", "is_deleted", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_files_file_extension_is_deleted_created_at"),
            ["file_extension", "is_deleted", "created_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_files_file_hash"), ["file_hash"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_files_is_deleted_created_at"), ["is_deleted", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_files_sha256"), ["sha256"], unique=False)

    op.create_table(
        "file_downloads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("downloader_ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("download_method", sa.String(length=10), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("bytes_downloaded", sa.BigInteger(), nullable=False),
        sa.Column("download_duration_ms", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["files.id"],
            name=op.f("fk_file_downloads_file_id_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_downloads")),
    )
    with op.batch_alter_table("file_downloads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_file_downloads_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_file_downloads_file_id_created_at"),
            ["file_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "file_tag_relations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["files.id"],
            name=op.f("fk_file_tag_relations_file_id_files"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"],
            ["file_tags.id"],
            name=op.f("fk_file_tag_relations_tag_id_file_tags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_tag_relations")),
        sa.UniqueConstraint("file_id", "tag_id", name=op.f("uq_file_tag_relations_file_id_tag_id")),
    )
    with op.batch_alter_table("file_tag_relations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_file_tag_relations_tag_id_file_id"), ["tag_id", "file_id"], unique=False
        )

    op.create_table(
        "file_uploads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("upload_session_id", sa.String(length=64), nullable=True),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("upload_status", sa.String(length=20), nullable=False),
        sa.Column("error_reason", sa.String(length=50), nullable=True),
        sa.Column("bytes_received", sa.BigInteger(), nullable=False),
        sa.Column("upload_started_at", TIMESTAMP, nullable=False),
        sa.Column("upload_completed_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["files.id"],
            name=op.f("fk_file_uploads_file_id_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_uploads")),
    )
    with op.batch_alter_table("file_uploads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_file_uploads_upload_session_id"), ["upload_session_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_file_uploads_upload_started_at"), ["upload_started_at"], unique=False
        )

    op.create_table(
        "file_views",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("viewer_ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("view_type", sa.String(length=20), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_file_views_file_id_files"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_views")),
    )
    with op.batch_alter_table("file_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_views_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_file_views_file_id_created_at"), ["file_id", "created_at"], unique=False
        )

    _seed()
    op.execute(FILE_STATISTICS)


def _seed() -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    categories = sa.table(
        "file_categories",
        sa.column("id"),
        sa.column("name"),
        sa.column("description"),
        sa.column("created_at", TIMESTAMP),
    )
    op.bulk_insert(
        categories,
        [
            {"id": number, "name": name, "description": description, "created_at": now}
            for number, (name, description) in enumerate(CATEGORIES.items(), start=1)
        ],
    )
    category_id = {name: number for number, name in enumerate(CATEGORIES, start=1)}
    rows = [
        {
            "extension": ext,
            "mime_type": mime,
            "category_id": category_id[category],
            "is_allowed": True,
            "created_at": now,
        }
        for ext, (mime, category) in EXTENSIONS.items()
    ] + [
        {
            "extension": ext,
            "mime_type": "application/octet-stream",
            "category_id": category_id["executable"],
            "is_allowed": False,
            "created_at": now,
        }
        for ext in REFUSED
    ]
    extensions = sa.table(
        "file_extensions",
        sa.column("extension"),
        sa.column("mime_type"),
        sa.column("category_id"),
        sa.column("is_allowed", sa.Boolean),
        sa.column("created_at", TIMESTAMP),
    )
    op.bulk_insert(extensions, rows)


def downgrade() -> None:
    op.execute("DROP VIEW file_statistics")
    for table in (
        "file_views",
        "file_uploads",
        "file_tag_relations",
        "file_downloads",
        "files",
        "file_extensions",
        "system_settings",
        "file_tags",
        "file_categories",
    ):
        op.drop_table(table)
