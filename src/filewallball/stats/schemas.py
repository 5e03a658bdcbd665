"""What GET /stats answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Totals(BaseModel):
    files: int = Field(description="Live files now.")
    bytes: int = Field(description="Their size now.")
    uploads: int = Field(description="Uploads attempted in the range.")
    downloads: int = Field(description="Downloads in the range.")
    views: int = Field(description="Views (info and preview) in the range.")
    bytes_saved: int = Field(
        default=0, description="Bytes not stored twice: files with the same content share one blob."
    )


class CategoryTotals(BaseModel):
    name: str
    file_count: int
    total_size: int
    avg_file_size: float | None
    last_upload: datetime | None


class Day(BaseModel):
    day: date
    uploads: int
    downloads: int


class TopFile(BaseModel):
    file_id: str
    filename: str
    downloads: int


class ClientUsage(BaseModel):
    client: str = Field(description="'ip:<address>' or 'key:<key id>'.")
    uploads: int
    downloads: int
    bytes_downloaded: int


class UploadError(BaseModel):
    reason: str
    count: int


_SUMMARY_EXAMPLE: dict[str, Any] = {
    "since": "2026-11-01",
    "until": "2026-11-22",
    "totals": {
        "files": 128,
        "bytes": 73400320,
        "uploads": 131,
        "downloads": 940,
        "views": 412,
        "bytes_saved": 1048576,
    },
    "categories": [
        {
            "name": "document",
            "file_count": 128,
            "total_size": 73400320,
            "avg_file_size": 573440.0,
            "last_upload": "2026-11-22T09:30:00Z",
        }
    ],
}


class Summary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SUMMARY_EXAMPLE]})

    since: date
    until: date = Field(description="Inclusive.")
    totals: Totals
    categories: list[CategoryTotals]


class Stats(Summary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_SUMMARY_EXAMPLE,
                    "per_day": [{"day": "2026-11-22", "uploads": 6, "downloads": 41}],
                    "top_downloaded": [
                        {
                            "file_id": "3f1c2b9e-8d4a-4f7e-9a1b-2c3d4e5f6a7b",
                            "filename": "report.pdf",
                            "downloads": 120,
                        }
                    ],
                    "clients": [
                        {
                            "client": "key:1a2b3c4d5e6f",
                            "uploads": 40,
                            "downloads": 300,
                            "bytes_downloaded": 157286400,
                        }
                    ],
                    "upload_errors": [{"reason": "too_large", "count": 3}],
                    "upload_success_rate": 0.977,
                }
            ]
        }
    )

    per_day: list[Day]
    top_downloaded: list[TopFile]
    clients: list[ClientUsage]
    upload_errors: list[UploadError]
    upload_success_rate: float | None = Field(description="Completed / attempted, in the range.")
