"""HTTP endpoints of the files feature. Every request has passed the access guard; what the
actor may do with a given file is decided in the service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from filewallball.access.gate import bucket_of
from filewallball.access.roles import Permission, require
from filewallball.deps import ActorDep, AuditDep, ClientDep, SessionDep, StateDep
from filewallball.docs import MAXIMUM_SETTING
from filewallball.errors import (
    AUTH,
    DATABASE_DOWN,
    FILE_NOT_FOUND,
    GONE,
    BadRequest,
    MalwareFound,
    problem_response,
)
from filewallball.files import digests, repository, service
from filewallball.files.download import DOWNLOAD_CSP, content_disposition
from filewallball.files.naming import search_text
from filewallball.files.schemas import (
    UPLOAD_EXAMPLES,
    AnonymousUpload,
    FileChange,
    FileDetails,
    FilePage,
    UploadedFile,
)
from filewallball.files.upload import multipart, raw
from filewallball.files.upload.pipeline import Upload
from filewallball.files.upload.recording import Received
from filewallball.tag_names import MAX_TAG_LENGTH, MAX_TAGS, normalise_tags

router = APIRouter(tags=["files"])


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        # No example: Swagger UI would send it with every "Try it out".
                        "tags": {
                            "type": "string",
                            "description": f"Comma-separated tags, such as `reports,2026`: "
                            f"at most {MAX_TAGS}, each at most {MAX_TAG_LENGTH} characters "
                            "once trimmed and case-folded.",
                        },
                        "is_public": {
                            "type": "boolean",
                            "default": True,
                            "description": "`true` or `false`; only a key may upload a "
                            "private file.",
                        },
                        "expires_in": {
                            "type": "integer",
                            "minimum": 1,
                            MAXIMUM_SETTING: "max_expires_in",
                            "description": "Seconds until the link stops (410); at most "
                            "FWB_MAX_EXPIRES_IN. Default: never.",
                        },
                        "max_downloads": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 1_000_000_000,
                            "description": "Downloads the link allows. Default: no limit.",
                        },
                    },
                }
            }
        },
    }
}


EXPIRY_LIMIT: dict[str, Any] = {MAXIMUM_SETTING: "max_expires_in"}
RAW_BODY = {
    "requestBody": {
        # HTTP cannot tell a missing body from an empty one: either is an empty file.
        "required": False,
        "description": "The file's bytes; an empty body is an empty file.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def base_url(state: StateDep, request: Request) -> str:
    return str(state.settings.base_url or request.base_url)


UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "Stored. With an API key the file is the key's; without, the answer "
        "carries a one-time `delete_token`.",
        "content": {"application/json": {"examples": UPLOAD_EXAMPLES}},
    },
    400: problem_response(400, "No file was sent: put it in a multipart field named 'file'."),
    **AUTH,
    408: problem_response(408, "No part of the upload arrived for 30 seconds."),
    413: problem_response(413, "The file is larger than the limit of 104857600 bytes."),
    415: problem_response(415, "Files of type .exe are not accepted."),
    422: problem_response(422, "The file was refused: it contains Eicar-Test-Signature."),
    503: problem_response(
        503,
        "The file could not be stored. Try again.",
        description="The storage, the database or the malware scanner cannot be reached.",
    ),
}


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
) -> UploadedFile:
    return await _upload(
        request, state, client, actor, audit, lambda attempt: multipart.receive(attempt, request)
    )


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
    filename: str,
    tags: Annotated[
        str | None, Query(description="Comma-separated tags.", examples=["reports,2026"])
    ] = None,
    is_public: Annotated[bool | None, Query()] = None,
    # A header is present or not, never null: None stays out of the document.
    x_tags: Annotated[
        str | SkipJsonSchema[None], Header(description="Tags, when not in the query.")
    ] = None,
    x_is_public: Annotated[bool | SkipJsonSchema[None], Header()] = None,
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
    named = tags if tags is not None else x_tags
    public = next((given for given in (is_public, x_is_public) if given is not None), True)
    expiry = expires_in if expires_in is not None else x_expires_in
    limit = max_downloads if max_downloads is not None else x_max_downloads
    return await _upload(
        request,
        state,
        client,
        actor,
        audit,
        lambda attempt: raw.receive(
            attempt,
            request,
            filename,
            tags=named,
            is_public=public,
            expires_in=None if expiry is None else str(expiry),
            max_downloads=None if limit is None else str(limit),
        ),
    )


async def _upload(
    request: Request,
    state: StateDep,
    client: ClientDep,
    actor: ActorDep,
    audit: AuditDep,
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
    async with state.gate.admit(bucket_of(actor, client), reserved):
        try:
            async with state.uploads.attempt(actor, client, expected) as attempt:
                received = await receive(attempt)
        except MalwareFound as exc:
            await audit.separately("malware_found", outcome="denied", finding=exc.detail)
            raise
    stored = received.stored
    await audit("upload", stored.file_id, size=stored.size)
    await state.jobs.notify()
    details = service.details(stored, base_url(state, request), 0, 0).model_dump()
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
async def file_info(
    file_id: str, request: Request, state: StateDep, client: ClientDep, actor: ActorDep
) -> FileDetails:
    return await service.describe(
        state.sessions,
        state.cache,
        state.activity,
        file_id,
        actor,
        client,
        base_url(state, request),
    )


BINARY = {"schema": {"type": "string", "format": "binary"}}
DOWNLOAD_ROUTE: dict[str, Any] = {
    "summary": "Download a file",
    "description": (
        "The file's bytes as an attachment. Supports one byte range (`Range: bytes=0-99`), "
        "`If-None-Match`, `If-Modified-Since` and `If-Range`."
    ),
    "response_class": Response,
    "responses": {
        200: {"description": "The whole file, as its stored type.", "content": {"*/*": BINARY}},
        206: {"description": "One byte range.", "content": {"*/*": BINARY}},
        304: {"description": "The copy the client has is current."},
        **AUTH,
        **FILE_NOT_FOUND,
        **GONE,
        416: problem_response(416, "The range is outside the file, which has 1234 bytes."),
        503: problem_response(
            503,
            "The file's content cannot be read right now.",
            description="The storage or the database cannot be reached.",
        ),
    },
}


@router.get("/download/{file_id}", operation_id="download_file", **DOWNLOAD_ROUTE)
@router.head("/download/{file_id}", operation_id="download_file_head", **DOWNLOAD_ROUTE)
async def download(
    file_id: str, request: Request, state: StateDep, client: ClientDep, actor: ActorDep
) -> Response:
    return await service.download(
        state.sessions,
        state.activity,
        state.cache,
        state.storage,
        file_id,
        actor=actor,
        method=request.method,
        headers=request.headers,
        client=client,
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
    responses={
        200: {
            "content": {
                "text/plain": {"example": "first line\nsecond line\n"},
                "image/*": {"schema": {"type": "string", "format": "binary"}},
            }
        },
        **AUTH,
        **FILE_NOT_FOUND,
        **GONE,
        415: problem_response(415, "Only text and images have a preview; this one is video/mp4."),
        **DATABASE_DOWN,
    },
)
async def view(file_id: str, state: StateDep, client: ClientDep, actor: ActorDep) -> Response:
    preview = await service.preview(
        state.sessions,
        state.cache,
        state.storage,
        state.activity,
        file_id,
        actor,
        client,
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
async def list_files(
    request: Request,
    state: StateDep,
    session: SessionDep,
    actor: ActorDep,
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")] = 1,
    size: Annotated[int, Query(ge=1, le=100, description="Files per page.")] = 20,
    category: Annotated[str | None, Query(max_length=50, examples=["image"])] = None,
    extension: Annotated[str | None, Query(max_length=20, examples=["pdf"])] = None,
    tag: Annotated[
        list[str] | None, Query(max_length=MAX_TAGS, description="Files with every tag given.")
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=255, description="Part of the filename (NFC-normalised, like filenames)."),
    ] = None,
) -> FilePage:
    filters = repository.ListFilter(
        category=category,
        extension=extension.lower().lstrip(".") if extension else None,
        tags=tuple(normalise_tags(tag or [])),
        query=search_text(q) if q else None,
    )
    return await service.list_files(session, filters, actor, page, size, base_url(state, request))


@router.delete(
    "/files/{file_id}",
    status_code=204,
    summary="Delete a file",
    description=(
        "Soft delete by the owner, an admin, or with an anonymous upload's delete token "
        "(`X-Delete-Token`): the file disappears from every endpoint at once; its bytes stay "
        "until an admin purges them."
    ),
    responses={
        **AUTH,
        **FILE_NOT_FOUND,
        503: problem_response(
            503,
            "The shared cache cannot be reached, so the change cannot be made safely. Try again.",
            description="The shared cache or the database cannot be reached.",
        ),
    },
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
    responses={
        **AUTH,
        400: problem_response(400, "expires_in must be 1 to 2592000 seconds."),
        **FILE_NOT_FOUND,
        503: problem_response(
            503,
            "The shared cache cannot be reached, so the change cannot be made safely. Try again.",
            description="The shared cache or the database cannot be reached.",
        ),
    },
)
async def change_file(
    file_id: str,
    change: FileChange,
    request: Request,
    state: StateDep,
    session: SessionDep,
    actor: ActorDep,
    audit: AuditDep,
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
    return service.details(stored, base_url(state, request), views, downloads)
