"""What the files API answers, and the metadata snapshot kept in the cache."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic.json_schema import SkipJsonSchema

from filewallball.openapi import MAXIMUM_SETTING
from filewallball.tag_names import MAX_TAGS

FileId = Annotated[
    str,
    Field(
        description="The file's id (UUID v4).", examples=["3f1c2b9e-8d4a-4f7e-9a1b-2c3d4e5f6a7b"]
    ),
]


class StoredFile(BaseModel):
    """A live file's metadata, as cached. Counters are not here: they change on every read.
    Frozen and hashable: one parsed copy of a cache entry serves every request (see
    service._parsed), and the answers built from it are kept by it (service.details)."""

    model_config = ConfigDict(frozen=True)

    id: int
    file_id: str
    filename: str
    extension: str
    mime_type: str
    size: int
    sha256: str
    md5: str | None
    storage_key: str
    category: str
    is_public: bool
    owner_key_pk: int | None
    delete_token_hash: str | None
    thumbnail_status: str
    width: int | None
    height: int | None
    image_format: str | None
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None
    max_downloads: int | None = None


class FileLinks(BaseModel):
    info_url: str
    view_url: str
    download_url: str
    share_url: str


_FILE_URL = "http://127.0.0.1:8000/{}/3f1c2b9e-8d4a-4f7e-9a1b-2c3d4e5f6a7b"
UPLOAD_EXAMPLE: dict[str, Any] = {
    "file_id": "3f1c2b9e-8d4a-4f7e-9a1b-2c3d4e5f6a7b",
    "filename": "report.pdf",
    "size": 48213,
    "mime_type": "application/pdf",
    "extension": "pdf",
    "category": "document",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "created_at": "2026-11-22T09:30:00.123456Z",
    "info_url": _FILE_URL.format("files"),
    "view_url": _FILE_URL.format("view"),
    "download_url": _FILE_URL.format("download"),
    "share_url": _FILE_URL.format("s"),
    "expires_at": None,
    "max_downloads": None,
}
ANONYMOUS_UPLOAD_EXAMPLE = {**UPLOAD_EXAMPLE, "delete_token": "q3J9x0Vb1mC7Lr2T8yWk5sPz4HdN6aFe"}
UPLOAD_EXAMPLES = {
    "anonymous": {"summary": "Without an API key", "value": ANONYMOUS_UPLOAD_EXAMPLE},
    "with_key": {"summary": "With an API key", "value": UPLOAD_EXAMPLE},
}
DETAILS_EXAMPLE = {
    **UPLOAD_EXAMPLE,
    "md5": "098f6bcd4621d373cade4e832627b4f6",
    "tags": ["reports", "2026"],
    "is_public": True,
    "updated_at": "2026-11-22T09:31:12.654321Z",
    "view_count": 3,
    "download_count": 12,
    "thumbnail_status": "none",
    "thumbnail_url": None,
    "width": None,
    "height": None,
    "image_format": None,
}


class UploadedFile(BaseModel):
    """The answer to an upload."""

    model_config = ConfigDict(json_schema_extra={"examples": [UPLOAD_EXAMPLE]})

    file_id: FileId
    filename: str = Field(description="The original name reduced to a safe base name.")
    size: int = Field(description="Size in bytes.")
    mime_type: str = Field(description="Type decided from the content and the extension.")
    extension: str = Field(description="Lower-case extension without the dot; may be empty.")
    category: str = Field(description="Category of the extension; 'other' when unknown.")
    sha256: str = Field(description="SHA-256 of the content, hex; also the download ETag.")
    created_at: datetime
    info_url: str
    view_url: str
    download_url: str
    share_url: str = Field(
        description="The web page to hand to people: details, preview, download."
    )
    expires_at: datetime | None = Field(
        default=None, description="When the link stops working (410); null: never."
    )
    max_downloads: int | None = Field(
        default=None, description="Downloads the link allows before it stops; null: no limit."
    )


class AnonymousUpload(UploadedFile):
    """An anonymous upload's answer carries the one secret that can delete it again."""

    model_config = ConfigDict(json_schema_extra={"examples": [ANONYMOUS_UPLOAD_EXAMPLE]})

    delete_token: str = Field(
        description="Send as X-Delete-Token with DELETE /files/{id}. Shown only once."
    )


class FileChange(BaseModel):
    """What the owner may change; a field left out stays as it is."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"is_public": False}, {"expires_in": 86400}],
            "minProperties": 1,
        },
    )

    # Strict, never null: `{"is_public": 0}` is refused, not taken for false; left out, the
    # file stays as it is.
    is_public: StrictBool | SkipJsonSchema[None] = Field(
        default=None, description="Who sees the file."
    )
    expires_in: int | None = Field(
        default=None,
        ge=1,
        description="Seconds from now until the link stops, at most FWB_MAX_EXPIRES_IN; "
        "null: never.",
        json_schema_extra={MAXIMUM_SETTING: "max_expires_in"},
    )
    max_downloads: int | None = Field(
        default=None, ge=1, le=1_000_000_000, description="Downloads from now on; null: no limit."
    )

    @field_validator("is_public", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must be true or false")
        return value


class FileDetails(UploadedFile):
    """Everything known about a file."""

    model_config = ConfigDict(json_schema_extra={"examples": [DETAILS_EXAMPLE]})

    md5: str | None = Field(
        description="MD5 of the content, hex; null only for a file an earlier release stored "
        "and has not hashed yet."
    )
    tags: list[str]
    is_public: bool
    updated_at: datetime
    view_count: int
    download_count: int
    thumbnail_status: str = Field(description="none (not an image), pending, ready or failed.")
    thumbnail_url: str | None = Field(description="Add ?size=small|medium; null until ready.")
    width: int | None = Field(description="Pixels, as displayed (EXIF orientation applied).")
    height: int | None
    image_format: str | None = Field(description="As decoded: JPEG, PNG, GIF, WEBP, BMP, TIFF.")


class ListQuery(BaseModel):
    """The list's query parameters: page, size and filters."""

    page: int = Field(1, ge=1, le=1_000_000, description="Page number, from 1.")
    size: int = Field(20, ge=1, le=100, description="Files per page.")
    category: str | None = Field(None, max_length=50, examples=["image"])
    extension: str | None = Field(None, max_length=20, examples=["pdf"])
    tag: list[str] | None = Field(
        None, max_length=MAX_TAGS, description="Files with every tag given."
    )
    q: str | None = Field(
        None,
        max_length=255,
        description="Part of the filename (NFC-normalised, like filenames).",
    )


class FilePage(BaseModel):
    """One page of a listing, newest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"items": [DETAILS_EXAMPLE], "total": 1, "page": 1, "size": 20, "pages": 1}
            ]
        }
    )

    items: list[FileDetails]
    total: int = Field(description="Files matching the filters, on all pages.")
    page: int
    size: int
    pages: int
