"""What the tag endpoints take and answer."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from filewallball.tag_names import MAX_TAG_LENGTH, MAX_TAGS

TagName = Annotated[str, Field(min_length=1, max_length=MAX_TAG_LENGTH, examples=["reports"])]


class TagList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"tags": ["reports", "2026"]}]})

    tags: Annotated[list[TagName], Field(max_length=MAX_TAGS, examples=[["reports", "2026"]])]


class TagCount(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"tag": "reports", "count": 42}]})

    tag: str
    count: int = Field(description="Live files with this tag that you may see.")
