"""What GET /uploads/{id} answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from filewallball.openapi import MAXIMUM_SETTING

_FILE = "3f1c2b9e-8d4a-4f7e-9a1b-2c3d4e5f6a7b"
EXAMPLE: dict[str, Any] = {
    "upload_id": "0575020261cc406fb68e0a1954a3ba93",
    "offset": 48213,
    "length": 48213,
    "complete": True,
    "expires_at": None,
    "file_id": _FILE,
    "info_url": f"http://127.0.0.1:8000/files/{_FILE}",
    "view_url": f"http://127.0.0.1:8000/view/{_FILE}",
    "download_url": f"http://127.0.0.1:8000/download/{_FILE}",
}


class ResumableState(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    upload_id: str
    offset: int = Field(description="Bytes received so far.")
    length: int = Field(description="The file's size, as declared at creation.")
    complete: bool = Field(description="Whether the last byte is in and the file is stored.")
    expires_at: datetime | None = Field(description="When an unfinished upload is thrown away.")
    file_id: str | None = Field(description="The file the upload became, once complete.")
    info_url: str | None
    view_url: str | None
    download_url: str | None


def _header(name: str, schema: dict[str, Any], description: str, *, required: bool) -> Any:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "schema": schema,
        "description": description,
    }


# The tus headers a request sends, for the OpenAPI document: every request but OPTIONS names
# the protocol's version, or is refused with 412.
TUS_RESUMABLE = _header(
    "Tus-Resumable",
    {"type": "string", "enum": ["1.0.0"]},
    "The version of tus spoken: 1.0.0.",
    required=True,
)
UPLOAD_LENGTH = _header(
    "Upload-Length",
    {"type": "integer", "minimum": 0, MAXIMUM_SETTING: "max_file_size"},
    "The file's size in bytes, at most FWB_MAX_FILE_SIZE (else 413). Not needed with "
    "`Upload-Concat: final;…`.",
    required=True,
)
UPLOAD_METADATA = _header(
    "Upload-Metadata",
    {"type": "string"},
    "Comma-separated `key base64(value)` pairs: `filename` (or `name`) is required; `tags`, "
    "`is_public`, `expires_in`, `max_downloads` are optional.",
    required=False,
)
UPLOAD_OFFSET = _header(
    "Upload-Offset",
    {"type": "integer", "minimum": 0},
    "Where these bytes go: the upload's offset, as HEAD tells it (else 409).",
    required=True,
)
CHUNK_BODY = {
    "required": True,
    "content": {
        "application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}
    },
}


def tus_request(*headers: Any, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `openapi_extra` of a tus operation: its request headers, and its body if any."""
    extra: dict[str, Any] = {"parameters": [TUS_RESUMABLE, *headers]}
    if body is not None:
        extra["requestBody"] = body
    return extra
