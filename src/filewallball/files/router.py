"""HTTP endpoints of the files feature."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse

from filewallball.deps import ClientDep, SessionDep, StateDep
from filewallball.errors import PROBLEM_JSON
from filewallball.files import repository, service
from filewallball.files.download import DOWNLOAD_CSP
from filewallball.files.schemas import FileDetails, FilePage, UploadedFile
from filewallball.files.upload import Receiver

router = APIRouter(tags=["files"])


def _problem(status: int, detail: str) -> dict[str, Any]:
    example = {"type": "/problems/…", "title": "…", "status": status, "detail": detail}
    return {
        "description": detail,
        "content": {PROBLEM_JSON: {"example": example}},
    }


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _problem(404, "No file has this id.")}
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
                        "tags": {
                            "type": "string",
                            "description": "Comma-separated tags.",
                            "example": "reports,2026",
                        },
                        "is_public": {"type": "boolean", "default": True},
                    },
                }
            }
        },
    }
}


def base_url(state: StateDep, request: Request) -> str:
    return str(state.settings.base_url or request.base_url)


@router.post(
    "/upload",
    status_code=201,
    response_model=UploadedFile,
    summary="Upload a file",
    description=(
        "Streams the `file` field of a multipart form into storage and answers with the "
        "file's id and the links to its info, preview and download, usable at once.\n\n"
        "`curl -F file=@report.pdf -F tags=reports,2026 http://127.0.0.1:8000/upload`"
    ),
    openapi_extra=UPLOAD_BODY,
    responses={
        400: _problem(400, "No file was sent: put it in a multipart field named 'file'."),
        413: _problem(413, "The file is larger than the limit of 104857600 bytes."),
        415: _problem(415, "Files of type .exe are not accepted."),
        503: _problem(503, "The file could not be stored. Try again."),
    },
)
async def upload(
    request: Request, state: StateDep, session: SessionDep, client: ClientDep
) -> UploadedFile:
    receiver = Receiver(
        request,
        session,
        state.sessions,
        state.storage,
        client,
        max_file_size=state.settings.max_file_size,
    )
    stored = await receiver.receive()
    state.jobs.submit(
        f"md5:{stored.file_id}",
        lambda: service.compute_md5(
            state.sessions,
            state.cache,
            state.storage,
            stored.id,
            stored.file_id,
            stored.storage_key,
        ),
    )
    details = service.details(stored, base_url(state, request), 0, 0)
    return UploadedFile.model_validate(details.model_dump())


@router.get(
    "/files/{file_id}",
    response_model=FileDetails,
    summary="Describe a file",
    description="Everything known about a file. Counts as a view of type `info`.",
    responses=NOT_FOUND,
)
async def file_info(
    file_id: str, request: Request, state: StateDep, session: SessionDep, client: ClientDep
) -> FileDetails:
    return await service.describe(session, state.cache, file_id, client, base_url(state, request))


DOWNLOAD_ROUTE: dict[str, Any] = {
    "summary": "Download a file",
    "description": (
        "The file's bytes as an attachment. Supports one byte range (`Range: bytes=0-99`), "
        "`If-None-Match`, `If-Modified-Since` and `If-Range`."
    ),
    "response_class": Response,
    "responses": {
        200: {"description": "The whole file.", "content": {"application/octet-stream": {}}},
        206: {"description": "One byte range.", "content": {"application/octet-stream": {}}},
        304: {"description": "The copy the client has is current."},
        **NOT_FOUND,
        416: _problem(416, "The range is outside the file, which has 1234 bytes."),
    },
}


@router.get("/download/{file_id}", operation_id="download_file", **DOWNLOAD_ROUTE)
@router.head("/download/{file_id}", operation_id="download_file_head", **DOWNLOAD_ROUTE)
async def download(
    file_id: str, request: Request, state: StateDep, session: SessionDep, client: ClientDep
) -> Response:
    return await service.download(
        session,
        state.sessions,
        state.cache,
        state.storage,
        file_id,
        method=request.method,
        headers=request.headers,
        client=client,
    )


@router.get(
    "/view/{file_id}",
    summary="Preview a text file",
    description=(
        "The start of a text file (at most `FWB_PREVIEW_MAX_BYTES`) as `text/plain; "
        "charset=utf-8`, whatever its own type: an uploaded page can never run in this origin. "
        "Counts as a view of type `preview`. `X-Preview-Truncated: true` says it was cut short."
    ),
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"example": "first line\nsecond line\n"}}},
        **NOT_FOUND,
        415: _problem(415, "Only text files have a preview; this one is image/png."),
    },
)
async def view(
    file_id: str, state: StateDep, session: SessionDep, client: ClientDep
) -> PlainTextResponse:
    text, truncated = await service.preview(
        session,
        state.cache,
        state.storage,
        file_id,
        client,
        state.settings.preview_max_bytes,
    )
    return PlainTextResponse(
        text,
        headers={
            "X-Preview-Truncated": "true" if truncated else "false",
            "Content-Security-Policy": DOWNLOAD_CSP,
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/files",
    response_model=FilePage,
    summary="List files",
    description="Live files, newest first, with optional filters.",
    responses={422: _problem(422, "Invalid value in query.size.")},
)
async def list_files(
    request: Request,
    state: StateDep,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")] = 1,
    size: Annotated[int, Query(ge=1, le=100, description="Files per page.")] = 20,
    category: Annotated[str | None, Query(max_length=50, examples=["image"])] = None,
    extension: Annotated[str | None, Query(max_length=20, examples=["pdf"])] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    q: Annotated[str | None, Query(max_length=255, description="Part of the filename.")] = None,
) -> FilePage:
    filters = repository.ListFilter(
        category=category,
        extension=extension.lower().lstrip(".") if extension else None,
        tag=tag.casefold().strip() if tag else None,
        query=q,
    )
    return await service.list_files(session, filters, page, size, base_url(state, request))


@router.delete(
    "/files/{file_id}",
    status_code=204,
    summary="Delete a file",
    description=(
        "Soft delete: the file disappears from every endpoint at once; its bytes stay on "
        "disk until purged."
    ),
    responses={**NOT_FOUND, 503: _problem(503, "The shared cache cannot be reached.")},
)
async def delete_file(file_id: str, state: StateDep, session: SessionDep) -> Response:
    await service.delete_file(session, state.cache, file_id)
    return Response(status_code=204)
