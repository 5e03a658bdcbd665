"""What GET /stats answers."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class Totals(BaseModel):
    files: int = Field(description="Live files now.")
    bytes: int = Field(description="Their size now.")
    uploads: int = Field(description="Uploads attempted in the range.")
    downloads: int = Field(description="Downloads in the range.")
    views: int = Field(description="Views (info and preview) in the range.")


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


class Summary(BaseModel):
    since: date
    until: date = Field(description="Inclusive.")
    totals: Totals
    categories: list[CategoryTotals]


class Stats(Summary):
    per_day: list[Day]
    top_downloaded: list[TopFile]
    clients: list[ClientUsage]
    upload_errors: list[UploadError]
    upload_success_rate: float | None = Field(description="Completed / attempted, in the range.")
