"""Where a file's bytes are stored: the key layout, in one place, so that the sweep removes
only what uploads wrote and never a stranger's file in a shared folder."""

from __future__ import annotations

import re

# `ab/cd/<32 hex>` for the file; whatever is made from it sits at `<key>.<suffix>` (thumbnails).
_BLOB_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{32}(?:\..+)?")


def key_for(file_id: str) -> str:
    """The key of a new file's blob: sharded by the id's first bytes, so no folder grows huge."""
    hexid = file_id.replace("-", "")
    return f"{hexid[:2]}/{hexid[2:4]}/{hexid}"


def is_ours(key: str) -> bool:
    """Whether `key` has the shape of a file's blob or of something made from one."""
    return _BLOB_KEY.fullmatch(key) is not None


def owner_of(key: str) -> str:
    """The file key a stored blob belongs to (itself, or the file it was made from)."""
    return key.split(".", 1)[0]
