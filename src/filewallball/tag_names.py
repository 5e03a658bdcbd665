"""What a tag name may be, shared by whoever accepts tags: the upload form and the tag
endpoints. Its own module because the tags feature imports files, so files cannot import it."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from filewallball.errors import BadRequest

MAX_TAGS = 20  # per file
MAX_TAG_LENGTH = 50


def normalise_tags(names: Iterable[str]) -> list[str]:
    """Tags as stored: NFC like filenames, whitespace trimmed and collapsed, case-folded,
    deduplicated, in order. BadRequest when one is too long or there are more than MAX_TAGS."""
    tags: list[str] = []
    for piece in names:
        tag = unicodedata.normalize("NFC", " ".join(piece.split()).casefold())
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise BadRequest(f"A tag is longer than {MAX_TAG_LENGTH} characters.")
        if tag not in tags:
            tags.append(tag)
    require_at_most_max(tags)
    return tags


def require_at_most_max(tags: Iterable[str]) -> None:
    """BadRequest when a file would carry more than MAX_TAGS tags."""
    if len(set(tags)) > MAX_TAGS:
        raise BadRequest(f"At most {MAX_TAGS} tags per file.")


def parse_tags(raw: str | None) -> list[str]:
    """A comma-separated list, as the upload form's `tags` field carries it."""
    return normalise_tags(raw.split(",")) if raw else []
