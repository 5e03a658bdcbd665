"""Who may see a new file: public unless asked otherwise, and only a key may ask otherwise.

Every text transport (the form field, the query, `X-Is-Public`, tus's `Upload-Metadata`) reads
`is_public` the same way: pydantic's spellings of a boolean, in any case, so an HTML checkbox
(`on`) and a script's `1` work as they would against a `bool` parameter. A JSON body is
stricter: there `is_public` is a JSON boolean (files/schemas.py).
"""

from __future__ import annotations

from typing import Any

from filewallball.access.roles import Actor
from filewallball.errors import BadRequest, Forbidden

SPELLINGS = {
    **dict.fromkeys(("true", "1", "yes", "on", "t", "y"), True),
    **dict.fromkeys(("false", "0", "no", "off", "f", "n"), False),
}
ACCEPTED = "true/false, 1/0, yes/no, on/off, t/f or y/n, in any case"
# The spellings for the OpenAPI document. A JSON Schema pattern has no flag for case, so each
# letter takes both of its cases; an enum could not say that `TRUE` is accepted too.
TEXT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": "^(?:"
    + "|".join("".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in s) for s in SPELLINGS)
    + ")$",
    "description": f"Who may see the file: {ACCEPTED}. Only a key may upload a private file.",
}


def parse_is_public(raw: str | None, name: str = "is_public") -> bool:
    """`raw` as a visibility; absent means public. BadRequest naming the spellings for
    anything else, from where `name` says it came."""
    if raw is None:
        return True
    public = SPELLINGS.get(raw.lower())
    if public is None:
        raise BadRequest(f"{name} must be {ACCEPTED}.")
    return public


def require_allowed(is_public: bool, actor: Actor) -> None:
    """Anonymous uploads are public: nobody could ever see a private file without an owner."""
    if not is_public and actor.is_anonymous:
        # Forbidden, not malformed: the same request with a key is fine.
        raise Forbidden("Anonymous uploads are public: use an API key for a private file.")
