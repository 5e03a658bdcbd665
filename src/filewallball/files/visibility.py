"""Who may see a new file: public unless asked otherwise, and only a key may ask otherwise."""

from __future__ import annotations

from filewallball.access.roles import Actor
from filewallball.errors import BadRequest, Forbidden


def parse_is_public(raw: str | None) -> bool:
    """A form's `is_public` field, `true` or `false` as the OpenAPI document's boolean says;
    absent means public. Nothing else is guessed at: `0`, `no` or an empty value is refused."""
    if raw is None:
        return True
    value = raw.strip().lower()
    if value not in {"true", "false"}:
        raise BadRequest("The field 'is_public' must be true or false.")
    return value == "true"


def require_allowed(is_public: bool, actor: Actor) -> None:
    """Anonymous uploads are public: nobody could ever see a private file without an owner."""
    if not is_public and actor.is_anonymous:
        # Forbidden, not malformed: the same request with a key is fine.
        raise Forbidden("Anonymous uploads are public: use an API key for a private file.")
