"""GET /files/{id}: everything known about a file."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import httpx
import pytest

from tests.files.conftest import Uploader

pytestmark = pytest.mark.anyio


async def test_info_has_every_upload_field_and_what_is_known_since(
    client: httpx.AsyncClient, uploaded: Uploader
) -> None:
    created = await uploaded("notes.txt", b"some notes")
    response = await client.get(created["info_url"])

    assert response.status_code == 200
    info = response.json()
    upload_fields = {key: value for key, value in created.items() if key != "delete_token"}
    assert info.items() >= upload_fields.items()
    assert "delete_token" not in info  # shown once, in the upload's answer only
    assert info["is_public"] is True  # the default
    assert info["tags"] == []
    assert info["md5"] == hashlib.md5(b"some notes").hexdigest()
    assert info["view_count"] == 1  # this very view
    assert info["download_count"] == 0
    updated_at = datetime.fromisoformat(info["updated_at"])
    created_at = datetime.fromisoformat(info["created_at"])
    assert updated_at.tzinfo is not None
    assert created_at <= updated_at <= datetime.now(UTC)
