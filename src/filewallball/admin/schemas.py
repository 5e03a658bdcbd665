"""What the admin API takes and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from filewallball.access.roles import Role


class KeyRequest(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100, examples=["ci-pipeline"])]
    role: Role


class RoleChange(BaseModel):
    role: Role


class KeyInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key_id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


class IssuedKeyInfo(KeyInfo):
    key: str = Field(description="The whole key. Shown only now: store it safely.")


class SettingValue(BaseModel):
    value: Annotated[str, Field(max_length=4000, examples=["10.0.0.0/8, 2001:db8::/32"])]


class SettingInfo(BaseModel):
    key: str
    value: str
    description: str
    source: str = Field(description="'runtime' when set through this API, else 'environment'.")


class ExtensionRule(BaseModel):
    is_allowed: bool | None = None
    max_file_size: Annotated[int | None, Field(ge=1)] = None
    category: Annotated[str | None, Field(max_length=50, examples=["document"])] = None


class ExtensionInfo(BaseModel):
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
    items: list[AuditEntry]
    total: int
    page: int
    size: int
    pages: int
