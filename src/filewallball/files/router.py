"""HTTP endpoints of the files feature. Every request has passed the access guard; what the
actor may do with a given file is decided in the service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.access.gate import bucket_of
from filewallball.access.roles import Permission, require
from filewallball.deps import (
    ActorDep,
    AuditDep,
    BaseUrlDep,
    ClientDep,
    ContextDep,
    SessionDep,
    StateDep,
)
from filewallball.errors import BadRequest, MalwareFound
from filewallball.files import digests, repository, service
from filewallball.files._openapi import (
    CHANGE_RESPONSES,
    DELETE_RESPONSES,
    DOWNLOAD_ROUTE,
    EXPIRY_LIMIT,
    IS_PUBLIC_TEXT,
    PREVIEW_RESPONSES,
    RAW_BODY,
    UPLOAD_BODY,
    UPLOAD_RESPONSES,
)
from filewallball.files.download import DOWNLOAD_CSP, content_disposition
from filewallball.files.naming import search_text
from filewallball.files.schemas import (
    AnonymousUpload,
    FileChange,
    FileDetails,
    FilePage,
    ListQuery,
    StoredFile,
    UploadedFile,
)
from filewallball.files.upload import multipart, raw
from filewallball.files.upload.pipeline import Upload
from filewallball.files.upload.recording import Received
from filewallball.files.visibility import ACCEPTED, TEXT_SCHEMA, parse_is_public
from filewallball.problems import AUTH, DATABASE_DOWN, FILE_NOT_FOUND, GONE
from filewallball.tag_names import normalise_tags

router = APIRouter(tags=["files"])


@router.post(
    "/upload",
    status_code=201,
    response_model=UploadedFile | AnonymousUpload,
    summary="Upload a file",
    description=(
        "Streams the `file` field of a multipart form into storage and answers with the "
        "file's id and the links to its info, preview and download, usable at once. "
        "An anonymous upload also gets a one-time `delete_token`.\n\n"
        "`curl -F file=@report.pdf -F tags=reports,2026 http://127.0.0.1:8000/upload`"
    ),
    openapi_extra=UPLOAD_BODY,
    responses=UPLOAD_RESPONSES,
)
async def upload(
    request: Request,
    state: StateDep,
    client: ClientDep,
    actor: ActorDep,
    audit: AuditDep,
    base: BaseUrlDep,
) -> UploadedFile:
    receive = partial(multipart.receive, request=request)
    return await _upload(request, state, client, actor, audit, base, receive)


@router.put(
    "/upload/{filename}",
    status_code=201,
    response_model=UploadedFile | AnonymousUpload,
    summary="Upload a file as the request body",
    description=(
        "The body is the file, named by the path: what `curl -T` sends. Answers as "
        "`POST /upload` does. Tags and visibility come as query parameters or as the "
        "headers `X-Tags` and `X-Is-Public`.\n\n"
        "`curl -T report.pdf 'http://127.0.0.1:8000/upload/?tags=reports,2026'`"
    ),
    openapi_extra=RAW_BODY,
    responses=UPLOAD_RESPONSES,
)
async def upload_raw(
    request: Request,
    state: StateDep,
    client: ClientDep,
    actor: ActorDep,
    audit: AuditDep,
    base: BaseUrlDep,
    filename: Annotated[
        str,
        Path(
            description="The file's name. One that is nothing but control characters, "
            "spaces or dots is refused (400).",
        ),
    ],
    tags: Annotated[
        str | None, Query(description="Comma-separated tags.", examples=["reports,2026"])
    ] = None,
    is_public: Annotated[
        str | SkipJsonSchema[None],
        Query(description=TEXT_SCHEMA["description"], json_schema_extra=IS_PUBLIC_TEXT),
    ] = None,
    # A header is present or not, never null: None stays out of the document.
    x_tags: Annotated[
        str | SkipJsonSchema[None], Header(description="Tags, when not in the query.")
    ] = None,
    x_is_public: Annotated[
        str | SkipJsonSchema[None],
        Header(
            description=f"Who may see the file, when not in the query: {ACCEPTED}.",
            json_schema_extra=IS_PUBLIC_TEXT,
        ),
    ] = None,
    expires_in: Annotated[
        int | None,
        Query(
            ge=1,
            description="Seconds until the link stops (410), at most FWB_MAX_EXPIRES_IN.",
            json_schema_extra=EXPIRY_LIMIT,
        ),
    ] = None,
    max_downloads: Annotated[
        int | None, Query(ge=1, le=1_000_000_000, description="Downloads the link allows.")
    ] = None,
    x_expires_in: Annotated[
        Annotated[int, Field(ge=1)] | SkipJsonSchema[None],
        Header(json_schema_extra=EXPIRY_LIMIT),
    ] = None,
    x_max_downloads: Annotated[
        Annotated[int, Field(ge=1, le=1_000_000_000)] | SkipJsonSchema[None], Header()
    ] = None,
) -> UploadedFile:
    longest = state.settings.max_expires_in
    if any(given is not None and given > longest for given in (expires_in, x_expires_in)):
        # Checked for both: the header, overridden by the query, must not pass unchecked.
        raise BadRequest(f"expires_in must be 1 to {longest} seconds.")
    # Both read, like the expiry: a bad header, overridden by the query, is refused all the same.
    header_public = parse_is_public(x_is_public, "X-Is-Public")
    public = header_public if is_public is None else parse_is_public(is_public)
    named = tags if tags is not None else x_tags
    expiry = expires_in if expires_in is not None else x_expires_in
    limit = max_downloads if max_downloads is not None else x_max_downloads
    receive = partial(
        raw.receive,
        request=request,
        filename=filename,
        tags=named,
        is_public=public,
        expires_in=None if expiry is None else str(expiry),
        max_downloads=None if limit is None else str(limit),
    )
    return await _upload(request, state, client, actor, audit, base, receive)


async def _upload(
    request: Request,
    state: StateDep,
    client: ClientDep,
    actor: ActorDep,
    audit: AuditDep,
    base: str,
    receive: Callable[[Upload], Awaitable[Received]],
) -> UploadedFile:
    """What every transport shares: the permission, the caps on uploads in flight, the
    pipeline, the audit line, the jobs, and the answer."""
    require(actor, Permission.upload)
    settings = state.settings
    declared = multipart.declared_length(request)
    reserved = min(
        settings.max_file_size if declared is None else declared,
        settings.max_file_size + multipart.MULTIPART_OVERHEAD,
    )
    expected = digests.expected_from(request.headers)

    async def audited(session: AsyncSession, stored: StoredFile) -> None:
        await audit.within(session, "upload", stored.file_id, size=stored.size)

    async with state.gate.admit(bucket_of(actor, client), reserved):
        try:
            async with state.uploads.attempt(
                actor, client, expected, recorded_with=audited
            ) as attempt:
                received = await receive(attempt)
        except MalwareFound as exc:
            await audit.separately("malware_found", outcome="denied", finding=exc.detail)
            raise
    stored = received.stored
    if received.queued_jobs:
        await state.jobs.notify()  # a worker woken for nothing queries for nothing
    details = service.details(stored, base, 0, 0).model_dump()
    if received.delete_token is not None:
        return AnonymousUpload.model_validate({**details, "delete_token": received.delete_token})
    return UploadedFile.model_validate(details)


@router.get(
    "/files/{file_id}",
    response_model=FileDetails,
    summary="Describe a file",
    description="Everything known about a file. Counts as a view of type `info`.",
    responses={**AUTH, **FILE_NOT_FOUND, **GONE, **DATABASE_DOWN},
)
async def file_info(file_id: str, context: ContextDep) -> FileDetails:
    state = context.state
    return await service.describe(
        state.sessions,
        state.cache,
        state.activity,
        file_id,
        context.actor,
        context.client,
        context.base_url,
    )


@router.get("/download/{file_id}", operation_id="download_file", **DOWNLOAD_ROUTE)
@router.head("/download/{file_id}", operation_id="download_file_head", **DOWNLOAD_ROUTE)
async def download(file_id: str, request: Request, context: ContextDep) -> Response:
    state = context.state
    return await service.download(
        state.sessions,
        state.activity,
        state.cache,
        state.storage,
        state.hot_files,
        file_id,
        actor=context.actor,
        method=request.method,
        headers=request.headers,
        client=context.client,
    )


@router.get(
    "/view/{file_id}",
    summary="Preview a file",
    description=(
        "Text files: the start (at most `FWB_PREVIEW_MAX_BYTES`) as `text/plain; charset=utf-8`, "
        "whatever their own type, so an uploaded page or SVG can never run in this origin; "
        "`X-Preview-Truncated: true` says it was cut short. Raster images (JPEG, PNG, GIF, WebP, "
        "BMP, TIFF): the image itself, inline, in a sandbox. Counts as a view of type `preview`."
    ),
    response_class=Response,
    responses=PREVIEW_RESPONSES,
)
async def view(file_id: str, context: ContextDep) -> Response:
    state = context.state
    preview = await service.preview(
        state.sessions,
        state.cache,
        state.storage,
        state.activity,
        file_id,
        context.actor,
        context.client,
        state.settings.preview_max_bytes,
    )
    safety = {"Content-Security-Policy": DOWNLOAD_CSP, "X-Content-Type-Options": "nosniff"}
    if isinstance(preview, service.TextPreview):
        return PlainTextResponse(
            preview.text,
            headers={"X-Preview-Truncated": "true" if preview.truncated else "false", **safety},
        )
    return StreamingResponse(
        state.storage.read(preview.storage_key),
        media_type=preview.mime_type,
        headers={
            "Content-Length": str(preview.size),
            "Content-Disposition": content_disposition(preview.filename, "inline"),
            "ETag": f'"{preview.sha256}"',
            **safety,
        },
    )


@router.get(
    "/files",
    response_model=FilePage,
    summary="List files",
    description=(
        "Live files, newest first, with optional filters: the public ones and your own "
        "(admins see all)."
    ),
    # 422 is documented for every route with parameters, by errors.document_problems.
    responses={**AUTH, **DATABASE_DOWN},
)
async def list_files(context: ContextDep, asked: Annotated[ListQuery, Query()]) -> Response:
    filters = repository.ListFilter(
        category=asked.category,
        extension=asked.extension.lower().lstrip(".") if asked.extension else None,
        tags=tuple(normalise_tags(asked.tag or [])),
        query=search_text(asked.q) if asked.q else None,
    )
    state = context.state
    listed = await service.list_files(
        state.sessions,
        state.listings,
        filters,
        context.actor,
        asked.page,
        asked.size,
        context.base_url,
    )
    return Response(listed, media_type="application/json")  # already a FilePage's JSON


@router.delete(
    "/files/{file_id}",
    status_code=204,
    summary="Delete a file",
    description=(
        "Soft delete by the owner, an admin, or with an anonymous upload's delete token "
        "(`X-Delete-Token`): the file disappears from every endpoint at once; its bytes stay "
        "until an admin purges them."
    ),
    responses=DELETE_RESPONSES,
)
async def delete_file(
    file_id: str,
    state: StateDep,
    session: SessionDep,
    actor: ActorDep,
    audit: AuditDep,
    delete_token: Annotated[str | None, Header(alias="X-Delete-Token", max_length=100)] = None,
) -> Response:
    await service.delete_file(session, state.cache, file_id, actor, delete_token)
    await audit("delete", file_id, by_token=delete_token is not None)
    return Response(status_code=204)


@router.patch(
    "/files/{file_id}",
    response_model=FileDetails,
    summary="Change who sees a file, when its link expires, how many downloads it allows",
    description=(
        "The owner or an admin. `is_public`: a private file exists only for them; others get "
        "404. `expires_in` (seconds from now, at most FWB_MAX_EXPIRES_IN; null: never) and "
        "`max_downloads` (from now on; null: no limit): past either the file answers 410."
    ),
    responses=CHANGE_RESPONSES,
)
async def change_file(
    file_id: str,
    change: FileChange,
    state: StateDep,
    session: SessionDep,
    actor: ActorDep,
    audit: AuditDep,
    base: BaseUrlDep,
) -> FileDetails:
    stored, changed = await service.change_file(
        session, state.cache, file_id, actor, change, longest_expiry=state.settings.max_expires_in
    )
    if "is_public" in changed:
        await audit("visibility_changed", stored.file_id, is_public=changed["is_public"])
    if changed.keys() - {"is_public"}:
        shown = {key: str(value) for key, value in changed.items()}  # "None": removed
        await audit("retention_changed", stored.file_id, **shown)
    views, downloads = await repository.counters(session, stored.id)
    return service.details(stored, base, views, downloads)
