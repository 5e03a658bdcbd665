"""Roles, what each may do, and the actor a request acts as."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from filewallball.errors import Forbidden, Unauthorized


class Role(enum.StrEnum):
    admin = "admin"
    uploader = "uploader"
    viewer = "viewer"


class Permission(enum.StrEnum):
    read = "read"  # public files, and one's own
    upload = "upload"
    manage_own = "manage_own"  # delete, tag, make private what one uploaded
    admin = "admin"  # everything: keys, extension rules, settings, audit, restore, purge


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.admin: frozenset(Permission),
    Role.uploader: frozenset({Permission.read, Permission.upload, Permission.manage_own}),
    Role.viewer: frozenset({Permission.read}),
}
RANK = {Role.viewer: 0, Role.uploader: 1, Role.admin: 2}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a request acts as: an API key, or an anonymous caller with the anonymous role."""

    role: Role | None  # None: anonymous access is switched off
    key_pk: int | None = None
    key_id: str | None = None

    @property
    def label(self) -> str:
        return f"key:{self.key_id}" if self.key_id else "anonymous"

    @property
    def is_anonymous(self) -> bool:
        return self.key_pk is None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    def can(self, permission: Permission) -> bool:
        return self.role is not None and permission in GRANTS[self.role]

    def owns(self, owner_key_pk: int | None) -> bool:
        return self.key_pk is not None and owner_key_pk == self.key_pk

    def may_grant(self, role: Role) -> bool:
        """No one hands out more rights than they hold."""
        return self.role is not None and RANK[role] <= RANK[self.role]


def key_required() -> Unauthorized:
    """The one 401 there is: a wrong, revoked or missing key all get exactly this answer, so
    that it tells a guesser nothing."""
    return Unauthorized(
        "A valid API key is required: send it as 'Authorization: Bearer <key>'.",
        headers={"WWW-Authenticate": 'Bearer realm="filewallball"'},
    )


def require(actor: Actor, permission: Permission) -> None:
    """Refuse unless the actor holds `permission`: 401 when a key would help, else 403."""
    if actor.can(permission):
        return
    if actor.is_anonymous:
        raise key_required()
    raise Forbidden(f"The {actor.role} role may not do this.")
