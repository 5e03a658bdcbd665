"""API keys: `fwb_<key id>_<secret>`. The secret is shown once and stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.access.models import ApiKey
from filewallball.access.roles import Actor, Role
from filewallball.db import utcnow

_KEY = re.compile(r"fwb_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
# Enough of a key to be one, or a piece of one, wherever it appears.
_KEY_LIKE = re.compile(r"fwb_[0-9a-f]{12}_")
# Compared against when the key id is unknown, so that a miss costs what a hit costs.
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str  # the whole key, to show once


def hash_secret(secret: str) -> str:
    # The secret is 256 random bits: a fast hash is enough, there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(presented: str) -> tuple[str, str] | None:
    match = _KEY.fullmatch(presented)
    return (match.group(1), match.group(2)) if match else None


def looks_like_key(text: str) -> bool:
    return _KEY_LIKE.search(text) is not None


async def issue(
    session: AsyncSession, name: str, role: Role, created_by: int | None = None
) -> IssuedKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        key_id=key_id,
        name=name,
        role=role.value,
        secret_hash=hash_secret(secret),
        created_by=created_by,
    )
    session.add(key)
    await session.flush()
    return IssuedKey(key, f"fwb_{key_id}_{secret}")


async def authenticate(session: AsyncSession, presented: str) -> Actor | None:
    """The actor for a presented key, or None when it is malformed, unknown or revoked."""
    parts = _split(presented)
    key_id, secret = parts if parts else ("", "")
    key = None
    if parts:
        key = await session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    expected = key.secret_hash if key is not None else _DUMMY_HASH
    matches = hmac.compare_digest(expected, hash_secret(secret))
    if key is None or not matches or key.revoked_at is not None:
        return None
    return Actor(role=Role(key.role), key_pk=key.id, key_id=key.key_id)


async def find(session: AsyncSession, key_id: str) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))


async def all_keys(session: AsyncSession) -> Sequence[ApiKey]:
    return (await session.scalars(select(ApiKey).order_by(ApiKey.id))).all()


async def revoke(session: AsyncSession, key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    await session.flush()
