"""Who may see a new file: public unless asked otherwise, and only a key may ask otherwise."""

from __future__ import annotations

from filewallball.access.roles import Actor
from filewallball.errors import BadRequest

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def parse_is_public(raw: str | None) -> bool:
    """A form's `is_public` field; absent or blank means public."""
    if raw is None or not raw.strip():
        return True
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadRequest("The field 'is_public' must be true or false.")


def require_allowed(is_public: bool, actor: Actor) -> None:
    """Anonymous uploads are public: nobody could ever see a private file without an owner."""
    if not is_public and actor.is_anonymous:
        raise BadRequest("Anonymous uploads are public: use an API key for a private file.")
