"""What GET /uploads/{id} answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
