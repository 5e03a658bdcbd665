"""Admin endpoints: every one needs the admin role (and an address in the admin allow list)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from filewallball.access.roles import Actor, Permission, require
from filewallball.admin import repository, service
from filewallball.admin.schemas import (
    AuditPage,
    ExtensionInfo,
    ExtensionRule,
    IssuedKeyInfo,
    KeyInfo,
    KeyRequest,
    RoleChange,
    SettingInfo,
    SettingValue,
)
from filewallball.categories import service as categories_service
from filewallball.categories.schemas import Category, CategoryRequest
from filewallball.deps import ActorDep, AuditDep, SessionDep, StateDep
from filewallball.iso_dates import IsoDateTime
from filewallball.problems import FILE_NOT_FOUND, Responses, problem_response


async def admin_only(actor: ActorDep) -> Actor:
    require(actor, Permission.admin)
    return actor


AdminDep = Annotated[Actor, Depends(admin_only)]
# What the service keeps of a name (leading dots dropped, lower-cased) must be 1 to 20 ASCII
# letters and digits: said in the document, so a name outside it is refused as any parameter.
EXTENSION_PATTERN = r"^\.*[A-Za-z0-9]{1,20}$"
KEY_NOT_FOUND: Responses = {404: problem_response(404, "No API key has this id.")}
ADMIN_ERRORS: Responses = {
    401: problem_response(401, "A valid API key is required."),
    403: problem_response(403, "The uploader role may not do this."),
}
router = APIRouter(prefix="/admin", tags=["admin"], responses=ADMIN_ERRORS)


@router.post(
    "/keys",
    status_code=201,
    response_model=IssuedKeyInfo,
    summary="Create an API key",
    description="The key is in the answer once and never again; only its hash is stored.",
)
async def create_key(
    request: KeyRequest, session: SessionDep, actor: AdminDep, audit: AuditDep
) -> IssuedKeyInfo:
    return await service.issue_key(session, audit, actor, request.name, request.role)


@router.get(
    "/keys",
    response_model=list[KeyInfo],
    summary="List API keys",
    description="Every key with its role; secrets are never shown.",
)
async def list_keys(session: SessionDep, actor: AdminDep) -> list[KeyInfo]:
    return await service.list_keys(session)


@router.patch(
    "/keys/{key_id}",
    response_model=KeyInfo,
    summary="Change a key's role",
    description="Takes effect on every replica with the next request. A revoked key stays "
    "revoked: changing its role is a 409.",
    responses={
        **KEY_NOT_FOUND,
        409: problem_response(409, "This key is revoked: its role can no longer change."),
    },
)
async def change_role(
    key_id: str, change: RoleChange, session: SessionDep, actor: AdminDep, audit: AuditDep
) -> KeyInfo:
    return await service.change_role(session, audit, actor, key_id, change.role)


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    summary="Revoke a key",
    description="The key answers 401 from the next request on, on every replica.",
    responses=KEY_NOT_FOUND,
)
async def revoke_key(
    key_id: str, session: SessionDep, actor: AdminDep, audit: AuditDep
) -> Response:
    await service.revoke_key(session, audit, key_id)
    return Response(status_code=204)


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="Read the audit log",
    description="Newest first; filter by actor (`key:<id>` or `anonymous`), action, target, time.",
)
async def audit_log(
    session: SessionDep,
    actor: AdminDep,
    by: Annotated[str | None, Query(alias="actor", max_length=40)] = None,
    action: Annotated[str | None, Query(max_length=40, examples=["auth_failed"])] = None,
    target: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[
        IsoDateTime | None, Query(description="Entries at or after this time (ISO 8601).")
    ] = None,
    until: Annotated[
        IsoDateTime | None, Query(description="Entries before this time (ISO 8601).")
    ] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 50,
) -> AuditPage:
    filters = repository.AuditFilter(by, action, target, since, until)
    return await service.audit_page(session, filters, page, size)


@router.get(
    "/settings",
    response_model=list[SettingInfo],
    summary="Network rules",
    description="The IP allow and deny lists in force, and where each comes from.",
)
async def network_settings(
    session: SessionDep, state: StateDep, actor: AdminDep
) -> list[SettingInfo]:
    return await service.network_settings(session, state.settings)


@router.put(
    "/settings/{key}",
    response_model=SettingInfo,
    summary="Change a network rule",
    description=(
        "Comma-separated CIDRs (IPv4 and IPv6); an empty value clears the list. Every replica "
        "applies it within FWB_POLICY_REFRESH_SECONDS."
    ),
    responses={
        404: problem_response(404, "No setting is called 'ip.allow'; see GET /admin/settings."),
        400: problem_response(400, "'10.0.0.0/33' is not an IP network."),
    },
)
async def put_setting(
    key: str,
    body: SettingValue,
    session: SessionDep,
    state: StateDep,
    actor: AdminDep,
    audit: AuditDep,
) -> SettingInfo:
    return await service.put_network_setting(session, audit, state.policy, key, body.value)


@router.put(
    "/extensions/{extension}",
    response_model=ExtensionInfo,
    summary="Allow, refuse, limit or move an extension",
    description=(
        "Set `is_allowed`, an own `max_file_size` (null: only the global limit), or move it, "
        "and its files, to another `category`."
    ),
    responses={
        404: problem_response(404, "No category is called 'designs'; see GET /categories."),
    },
)
async def put_extension(
    extension: Annotated[str, Path(pattern=EXTENSION_PATTERN)],
    rule: ExtensionRule,
    session: SessionDep,
    state: StateDep,
    actor: AdminDep,
    audit: AuditDep,
) -> ExtensionInfo:
    return await service.set_extension_rule(
        session, audit, state.cache, state.uploads.rules, extension, rule
    )


@router.post(
    "/categories",
    status_code=201,
    response_model=Category,
    summary="Add a category",
    description="Then move extensions into it with PUT /admin/extensions/{extension}.",
    responses={409: problem_response(409, "A category called 'design' exists already.")},
)
async def add_category(
    request: CategoryRequest, session: SessionDep, actor: AdminDep, audit: AuditDep
) -> Category:
    category = await categories_service.add_category(session, request)
    await audit("category_added", category.name)  # committed together with the category
    return category


@router.post(
    "/files/{file_id}/restore",
    status_code=204,
    summary="Restore a deleted file",
    description="Undo a soft delete: the file is back on every endpoint.",
    responses=FILE_NOT_FOUND,
)
async def restore_file(
    file_id: str, session: SessionDep, state: StateDep, actor: AdminDep, audit: AuditDep
) -> Response:
    await service.restore_file(session, audit, state.cache, file_id)
    return Response(status_code=204)


@router.delete(
    "/files/{file_id}",
    status_code=204,
    summary="Purge a file",
    description="Remove a file for good, deleted or not: its row, its logs and its bytes.",
    responses=FILE_NOT_FOUND,
)
async def purge_file(
    file_id: str, session: SessionDep, state: StateDep, actor: AdminDep, audit: AuditDep
) -> Response:
    await service.purge_file(session, audit, state.cache, state.storage, file_id)
    return Response(status_code=204)
