"""What the admin API takes and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from filewallball.access.roles import Role


class KeyRequest(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100, examples=["ci-pipeline"])]
    role: Role


class RoleChange(BaseModel):
    role: Role


_KEY_EXAMPLE: dict[str, Any] = {
    "key_id": "1a2b3c4d5e6f",
    "name": "ci-pipeline",
    "role": "uploader",
    "created_at": "2026-11-22T09:30:00Z",
    "revoked_at": None,
}


class KeyInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_KEY_EXAMPLE]})

    key_id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


class IssuedKeyInfo(KeyInfo):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_KEY_EXAMPLE,
                    "key": "fwb_1a2b3c4d5e6f_Qm9yZ2V0LW1lLW5vdC1zdG9yZS1tZS1zYWZlbHktcGxl",
                }
            ]
        }
    )

    key: str = Field(description="The whole key. Shown only now: store it safely.")


class SettingValue(BaseModel):
    value: Annotated[str, Field(max_length=4000, examples=["10.0.0.0/8, 2001:db8::/32"])]


class SettingInfo(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "ip.deny",
                    "value": "198.51.100.0/24",
                    "description": "These networks may not use the service.",
                    "source": "runtime",
                }
            ]
        }
    )

    key: str
    value: str
    description: str
    source: str = Field(description="'runtime' when set through this API, else 'environment'.")


class ExtensionRule(BaseModel):
    is_allowed: StrictBool | None = None  # `{"is_allowed": 0}` is refused, not taken for false
    # At most a pebibyte: far above any upload, and held exactly by the BIGINT column and by
    # a JSON number read as a double, so a larger one is refused here, not by the database.
    max_file_size: Annotated[int | None, Field(ge=1, le=2**50)] = None
    category: Annotated[str | None, Field(max_length=50, examples=["document"])] = None


class ExtensionInfo(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "extension": "svg",
                    "mime_type": "image/svg+xml",
                    "category": "design",
                    "is_allowed": True,
                    "max_file_size": 10485760,
                }
            ]
        }
    )

    extension: str
    mime_type: str
    category: str
    is_allowed: bool
    max_file_size: int | None


class AuditEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    created_at: datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    client_ip: str | None
    request_id: str | None
    detail: str | None


class AuditPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "created_at": "2026-11-22T09:30:00Z",
                            "actor": "key:1a2b3c4d5e6f",
                            "action": "delete",
                            "target": "3f1c2b9e-8d4a-4f7e-9a1b-2c3d4e5f6a7b",
                            "outcome": "success",
                            "client_ip": "203.0.113.7",
                            "request_id": "9b2f4c1d8e7a4b3c9d0e1f2a3b4c5d6e",
                            "detail": None,
                        }
                    ],
                    "total": 1,
                    "page": 1,
                    "size": 50,
                    "pages": 1,
                }
            ]
        }
    )

    items: list[AuditEntry]
    total: int
    page: int
    size: int
    pages: int
