"""The rules of administration. Each change writes its audit entry in its own transaction,
before anything commits, so that the log holds a change exactly when the database does."""

from __future__ import annotations

import math
import mimetypes

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.access import keys
from filewallball.access.audit import Audit
from filewallball.access.models import ApiKey
from filewallball.access.policy import RULE_KEYS, PolicySource
from filewallball.access.roles import Actor, Role
from filewallball.admin import repository
from filewallball.admin.schemas import (
    AuditEntry,
    AuditPage,
    ExtensionInfo,
    ExtensionRule,
    IssuedKeyInfo,
    KeyInfo,
    SettingInfo,
)
from filewallball.cache import Cache
from filewallball.db import after_commit
from filewallball.errors import BadRequest, Conflict, Forbidden, NotFound
from filewallball.files import service as files_service
from filewallball.files.listings import lists_changed
from filewallball.files.models import FileExtension
from filewallball.files.naming import extension_of
from filewallball.files.upload.rules import ExtensionRules
from filewallball.images.service import SIZES, thumbnail_key
from filewallball.settings import Settings, parse_networks
from filewallball.storage import Storage, StorageError

log = structlog.get_logger(__name__)


async def issue_key(
    session: AsyncSession, audit: Audit, actor: Actor, name: str, role: Role
) -> IssuedKeyInfo:
    if not actor.may_grant(role):
        raise Forbidden("No one can create a key with more rights than their own.")
    issued = await keys.issue(session, name, role, created_by=actor.key_pk)
    await audit("key_created", f"key:{issued.key.key_id}", role=role.value)
    return IssuedKeyInfo(**KeyInfo.model_validate(issued.key).model_dump(), key=issued.secret)


async def _key(session: AsyncSession, key_id: str) -> ApiKey:
    key = await keys.find(session, key_id)
    if key is None:
        raise NotFound("No API key has this id.")
    return key


async def change_role(
    session: AsyncSession, audit: Audit, actor: Actor, key_id: str, role: Role
) -> KeyInfo:
    if not actor.may_grant(role):
        raise Forbidden("No one can grant more rights than their own.")
    key = await _key(session, key_id)
    if key.revoked_at is not None:
        raise Conflict("This key is revoked: its role can no longer change.")
    key.role = role.value
    await audit("key_role_changed", f"key:{key_id}", role=role.value)
    return KeyInfo.model_validate(key)


async def revoke_key(session: AsyncSession, audit: Audit, key_id: str) -> None:
    await keys.revoke(session, await _key(session, key_id))
    await audit("key_revoked", f"key:{key_id}")


async def list_keys(session: AsyncSession) -> list[KeyInfo]:
    return [KeyInfo.model_validate(key) for key in await keys.all_keys(session)]


async def audit_page(
    session: AsyncSession, filters: repository.AuditFilter, page: int, size: int
) -> AuditPage:
    rows, total = await repository.audit_page(session, filters, page, size)
    return AuditPage(
        items=[AuditEntry.model_validate(row) for row in rows],
        total=total,
        page=page,
        size=size,
        pages=math.ceil(total / size),
    )


def _from_environment(settings: Settings, key: str) -> str:
    networks = {
        "ip.allow": settings.ip_allow,
        "ip.deny": settings.ip_deny,
        "ip.allow.admin": settings.admin_ip_allow,
    }.get(key, [])
    return ",".join(str(network) for network in networks)


async def network_settings(session: AsyncSession, settings: Settings) -> list[SettingInfo]:
    stored = await repository.settings_named(session, list(RULE_KEYS))
    return [
        SettingInfo(
            key=key,
            value=stored[key] if key in stored else _from_environment(settings, key),
            description=description,
            source="runtime" if key in stored else "environment",
        )
        for key, description in RULE_KEYS.items()
    ]


async def put_network_setting(
    session: AsyncSession, audit: Audit, policy: PolicySource, key: str, value: str
) -> SettingInfo:
    if key not in RULE_KEYS:
        raise NotFound(f"No setting is called {key!r}; see GET /admin/settings.")
    try:
        networks = parse_networks(value)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    normalised = ",".join(str(network) for network in networks)
    await repository.put_setting(session, key, normalised, RULE_KEYS[key])
    await audit("setting_changed", key, value=normalised)
    # This replica at once; the others within FWB_POLICY_REFRESH_SECONDS.
    after_commit(session, policy.reload)
    return SettingInfo(key=key, value=normalised, description=RULE_KEYS[key], source="runtime")


async def set_extension_rule(
    session: AsyncSession,
    audit: Audit,
    cache: Cache,
    rules: ExtensionRules,
    name: str,
    rule: ExtensionRule,
) -> ExtensionInfo:
    name = name.lower().lstrip(".")
    if extension_of(f"x.{name}") != name:
        raise BadRequest("An extension is 1 to 20 letters and digits.")
    extension = await repository.extension(session, name)
    if extension is None:
        other = await repository.category_named(session, "other")
        assert other is not None  # seeded by the first migration
        extension = FileExtension(
            extension=name,
            mime_type=mimetypes.guess_type(f"x.{name}")[0] or "application/octet-stream",
            category_id=other.id,
            category=other,
        )
        session.add(extension)
    if rule.is_allowed is not None:
        extension.is_allowed = rule.is_allowed
    if "max_file_size" in rule.model_fields_set:
        extension.max_file_size = rule.max_file_size
    if rule.category is not None:
        category = await repository.category_named(session, rule.category)
        if category is None:
            raise NotFound(f"No category is called {rule.category!r}; see GET /categories.")
        extension.category = category
        await session.flush()
        # Files follow their extension into the new category, in every list at once.
        await repository.move_files(session, extension.extension, category.id)
        after_commit(session, lambda: lists_changed(cache))
    after_commit(session, rules.changed)  # at once here; on other replicas at their next read
    await audit("extension_changed", name, **rule.model_dump(exclude_unset=True))
    return ExtensionInfo(
        extension=extension.extension,
        mime_type=extension.mime_type,
        category=extension.category.name,
        is_allowed=extension.is_allowed,
        max_file_size=extension.max_file_size,
    )


async def restore_file(session: AsyncSession, audit: Audit, cache: Cache, file_id: str) -> None:
    file = await repository.any_file(session, files_service.canonical_id(file_id))
    if file is None:
        raise NotFound("No file has this id.")
    await repository.restore(session, file.id)
    await audit("restore", file_id)
    # Forgotten once committed, so that no reader refills the cache with the deleted file.
    after_commit(session, lambda: files_service.forget(cache, file.file_uuid))


async def purge_file(
    session: AsyncSession, audit: Audit, cache: Cache, storage: Storage, file_id: str
) -> None:
    """Remove a file for good: its row (with its logs), then its bytes."""
    file = await repository.any_file(session, files_service.canonical_id(file_id))
    if file is None:
        raise NotFound("No file has this id.")
    await files_service.hold(cache, file.file_uuid)
    purged = await repository.purge(session, file.id)
    await audit("purge", file_id)
    after_commit(
        session, lambda: remove_bytes(cache, storage, file.file_uuid, purged.bytes_to_remove)
    )


async def remove_bytes(cache: Cache, storage: Storage, file_id: str, key: str | None) -> None:
    """Once a purge committed: the file leaves the cache, and its blob and thumbnails go when
    no other file shares them (`key`), as nothing can point at them any more."""
    await files_service.forget(cache, file_id)
    if key is None:
        return
    try:
        for blob in (key, *(thumbnail_key(key, size) for size in SIZES)):
            await storage.delete(blob)
    except (StorageError, OSError):
        log.exception("purged_blob_not_removed", key=key)
