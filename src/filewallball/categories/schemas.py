"""What the category endpoints take and answer."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class CategoryRequest(BaseModel):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$", examples=["design"])]
    description: Annotated[str | None, Field(max_length=255)] = None


class ExtensionEntry(BaseModel):
    extension: str
    mime_type: str
    is_allowed: bool


class Category(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "document",
                    "description": "Documents",
                    "extensions": [
                        {"extension": "pdf", "mime_type": "application/pdf", "is_allowed": True}
                    ],
                    "file_count": 128,
                    "total_size": 73400320,
                }
            ]
        }
    )

    name: str
    description: str | None
    extensions: list[ExtensionEntry]
    file_count: int = Field(description="Live files in the category.")
    total_size: int = Field(description="Their bytes.")
