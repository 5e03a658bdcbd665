"""The tus 1.0.0 endpoints at /uploads/. Every request has passed the access guard, as every
upload does; tus's own headers are read and written here, the rules live in the service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from filewallball.access.gate import bucket_of
from filewallball.access.roles import Permission, require
from filewallball.deps import ActorDep, AuditDep, BaseUrlDep, ClientDep, StateDep
from filewallball.errors import BadRequest, FileWallBallError, MalwareFound, NotFound
from filewallball.files import service as files_service
from filewallball.files.upload.pipeline import arriving
from filewallball.files.visibility import parse_is_public
from filewallball.problems import AUTH, problem_response
from filewallball.resumable import protocol
from filewallball.resumable.schemas import (
    CHUNK_BODY,
    UPLOAD_LENGTH,
    UPLOAD_METADATA,
    UPLOAD_OFFSET,
    ResumableState,
    tus_request,
)
from filewallball.resumable.service import Description, Progress

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class TusRoute(APIRoute):
    """Every answer of these endpoints, refusals included, says which tus version it speaks."""

    def get_route_handler(self) -> Handler:
        handle = super().get_route_handler()

        async def handle_tus(request: Request) -> Response:
            try:
                response = await handle(request)
            except FileWallBallError as refusal:
                refusal.headers.setdefault("Tus-Resumable", protocol.TUS_VERSION)
                raise
            response.headers.setdefault("Tus-Resumable", protocol.TUS_VERSION)
            return response

        return handle_tus


router = APIRouter(prefix="/uploads", tags=["resumable uploads"], route_class=TusRoute)

RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH,
    404: problem_response(404, "No upload has this id."),
    409: problem_response(
        409,
        "The upload has 1048576 bytes, not 0: ask for its offset with HEAD and continue from "
        "there.",
    ),
    410: problem_response(410, "The upload expired before it was finished: start it again."),
    412: problem_response(
        412, "Send 'Tus-Resumable: 1.0.0': it is the version of tus this server speaks."
    ),
    413: problem_response(413, "The file is larger than the limit of 104857600 bytes."),
    415: problem_response(415, "Send the upload's bytes as application/offset+octet-stream."),
    423: problem_response(
        423, "Another request is writing to this upload. Ask for its offset again shortly."
    ),
    460: problem_response(
        460,
        "The content does not match the sha256 digest sent in Upload-Checksum: nothing was stored.",
    ),
}


def _documented(*names: str) -> dict[str, dict[str, Any]]:
    """OpenAPI entries for the tus headers an answer carries."""
    return {
        name: {"description": HEADER_MEANINGS[name], "schema": {"type": "string"}} for name in names
    }


HEADER_MEANINGS = {
    "Location": "The upload's URL, for HEAD, PATCH and DELETE.",
    "Upload-Offset": "Bytes received so far: where the next PATCH starts.",
    "Upload-Length": "The file's size.",
    "Upload-Expires": "When an unfinished upload is thrown away (RFC 9110 date).",
    "X-File-Id": "Once the last byte is in: the file's id (X-Info-Url, X-View-Url, "
    "X-Download-Url and, anonymously, X-Delete-Token come with it).",
}


def _location(base: str, upload_id: str) -> str:
    return f"{base}/uploads/{upload_id}"


def _headers(progress: Progress, base: str) -> dict[str, str]:
    """What HEAD, PATCH and creation say of an upload."""
    headers = {
        "Upload-Offset": str(progress.offset),
        "Upload-Length": str(progress.length),
        "Cache-Control": "no-store",
    }
    if progress.file_id is None:
        headers["Upload-Expires"] = protocol.http_date(progress.expires_at)
    if progress.metadata_header:
        headers["Upload-Metadata"] = progress.metadata_header
    if progress.kind == "partial":
        headers["Upload-Concat"] = "partial"
    elif progress.kind == "final":
        urls = " ".join(f"/uploads/{part}" for part in progress.parts)
        headers["Upload-Concat"] = f"final;{urls}"
    if progress.file_id is not None:
        # The file the last byte made (tus itself has no word for it): on every answer once
        # it exists, so a client that missed the last PATCH's answer learns it from HEAD.
        links = files_service.links(base, progress.file_id)
        headers |= {
            "X-File-Id": progress.file_id,
            "X-Info-Url": links.info_url,
            "X-View-Url": links.view_url,
            "X-Download-Url": links.download_url,
            "X-Share-Url": links.share_url,
        }
    if progress.received is not None and progress.received.delete_token is not None:
        headers["X-Delete-Token"] = progress.received.delete_token  # once: only its hash is kept
    return headers


def _description(request: Request) -> Description:
    raw = request.headers.get("upload-metadata")
    metadata = protocol.parse_metadata(raw)
    return Description(
        # Uppy and tus-js-client's examples send `name`; tuspy's send `filename`.
        filename=metadata.get("filename") or metadata.get("name"),
        tags=metadata.get("tags"),
        is_public=parse_is_public(metadata.get("is_public")),
        metadata_header=raw,
    )


@router.options("", status_code=204, summary="What this tus server offers")
@router.options("/{upload_id}", status_code=204, include_in_schema=False)
async def options(state: StateDep) -> Response:
    return Response(status_code=204, headers=protocol.advertised(state.settings.max_file_size))


@router.post(
    "",
    status_code=201,
    summary="Begin a resumable upload (tus creation)",
    description=(
        "tus 1.0.0 creation, with creation-with-upload and concatenation. `Upload-Length` "
        "gives the size; `Upload-Metadata` the `filename` (or `name`), and optionally `tags` "
        "and `is_public`. Answers 201 with the upload's URL in `Location`. A body sent as "
        "`application/offset+octet-stream` is the first chunk. `Upload-Concat: final;…` "
        "joins finished partial uploads into the file at once."
    ),
    response_class=Response,
    responses={
        201: {
            "description": "Created: `Location` is the upload's URL; no body.",
            "headers": _documented("Location", "Upload-Offset", "Upload-Expires", "X-File-Id"),
        },
        **RESPONSES,
    },
    openapi_extra=tus_request(UPLOAD_LENGTH, UPLOAD_METADATA),
)
async def create(
    request: Request,
    state: StateDep,
    client: ClientDep,
    actor: ActorDep,
    audit: AuditDep,
    base: BaseUrlDep,
) -> Response:
    protocol.require_version(request.headers)
    require(actor, Permission.upload)
    description = _description(request)
    concat = protocol.parse_concat(request.headers.get("upload-concat"))
    resumables = state.resumables
    if concat is not None and not concat.partial:
        async with _malware_audited(audit):
            progress = await resumables.concatenate(actor, client, concat.parts, description)
        await _finished(progress, audit, state)
        return Response(
            status_code=201,
            headers={"Location": _location(base, progress.upload_id), **_headers(progress, base)},
        )
    length = protocol.non_negative(request.headers, "upload-length")
    if length is None:
        raise BadRequest("Send Upload-Length: this server takes no uploads of unknown size.")
    with_data = protocol.has_body(request.headers)  # creation-with-upload: the first chunk
    if with_data:
        protocol.require_chunk(request.headers)
    progress = await resumables.create(
        actor, bucket_of(actor, client), length=length, description=description, concat=concat
    )
    upload_id = progress.upload_id
    if with_data or (progress.length == 0 and progress.kind == "single"):
        try:
            progress = await _append(request, state, client, actor, audit, upload_id, 0)
        except FileWallBallError as refusal:
            # The upload exists even if its first bytes did not count: answered with where
            # it stands, the client goes on with PATCH instead of creating another one.
            try:
                progress = await resumables.progress(actor, upload_id)
            except NotFound:  # its content was refused for good, and the upload with it
                raise refusal from None
        await _finished(progress, audit, state)
    location = _location(base, upload_id)
    return Response(status_code=201, headers={"Location": location, **_headers(progress, base)})


@router.head(
    "/{upload_id}",
    summary="Where a resumable upload stands",
    response_class=Response,
    responses={
        200: {
            "description": "Its offset and length; no body.",
            "headers": _documented("Upload-Offset", "Upload-Length", "Upload-Expires"),
        },
        **RESPONSES,
    },
    openapi_extra=tus_request(),
)
async def head(
    upload_id: str, request: Request, state: StateDep, actor: ActorDep, base: BaseUrlDep
) -> Response:
    protocol.require_version(request.headers)
    require(actor, Permission.upload)
    progress = await state.resumables.progress(actor, upload_id)
    return Response(status_code=200, headers=_headers(progress, base))


@router.get(
    "/{upload_id}",
    response_model=ResumableState,
    summary="A resumable upload, and the file it became",
    responses=RESPONSES,
)
async def describe(
    upload_id: str, state: StateDep, actor: ActorDep, base: BaseUrlDep
) -> ResumableState:
    require(actor, Permission.upload)
    progress = await state.resumables.progress(actor, upload_id)
    links = files_service.links(base, progress.file_id) if progress.file_id else None
    return ResumableState(
        upload_id=progress.upload_id,
        offset=progress.offset,
        length=progress.length,
        complete=progress.file_id is not None,
        expires_at=None if progress.file_id else progress.expires_at,
        file_id=progress.file_id,
        info_url=links.info_url if links else None,
        view_url=links.view_url if links else None,
        download_url=links.download_url if links else None,
    )


@router.patch(
    "/{upload_id}",
    status_code=204,
    summary="Send the next bytes of a resumable upload",
    description=(
        "The body (`application/offset+octet-stream`) is written at `Upload-Offset`, which "
        "must be the upload's. An `Upload-Checksum` (sha1, sha256, md5) is checked before any "
        "byte counts. The request that brings the last byte answers with the file's "
        "`X-File-Id`, `X-Info-Url`, `X-View-Url`, `X-Download-Url` (and an anonymous "
        "upload's `X-Delete-Token`)."
    ),
    responses=RESPONSES,
    openapi_extra=tus_request(UPLOAD_OFFSET, body=CHUNK_BODY),
)
async def append(
    upload_id: str,
    request: Request,
    state: StateDep,
    client: ClientDep,
    actor: ActorDep,
    audit: AuditDep,
    base: BaseUrlDep,
) -> Response:
    protocol.require_version(request.headers)
    require(actor, Permission.upload)
    protocol.require_chunk(request.headers)
    offset = protocol.non_negative(request.headers, "upload-offset")
    if offset is None:
        raise BadRequest("Send Upload-Offset: where these bytes go in the upload.")
    progress = await _append(request, state, client, actor, audit, upload_id, offset)
    await _finished(progress, audit, state)
    return Response(status_code=204, headers=_headers(progress, base))


async def _append(
    request: Request,
    state: StateDep,
    client: ClientDep,
    actor: ActorDep,
    audit: AuditDep,
    upload_id: str,
    offset: int,
) -> Progress:
    """Write the request's body at `offset`, holding a place among the uploads in flight."""
    checksum = protocol.parse_checksum(request.headers.get("upload-checksum"))
    declared = protocol.non_negative(request.headers, "content-length")
    reserved = min(declared or state.settings.max_file_size, state.settings.max_file_size)
    async with state.gate.admit(bucket_of(actor, client), reserved), _malware_audited(audit):
        return await state.resumables.append(
            actor,
            client,
            upload_id,
            offset=offset,
            body=arriving(request.stream(), state.settings.upload_idle_timeout),
            checksum=checksum,
        )


@asynccontextmanager
async def _malware_audited(audit: AuditDep) -> AsyncIterator[None]:
    try:
        yield
    except MalwareFound as exc:
        await audit.separately("malware_found", outcome="denied", finding=exc.detail)
        raise


async def _finished(progress: Progress, audit: AuditDep, state: StateDep) -> None:
    """What follows an upload that became a file: the audit line and the file's jobs."""
    if progress.received is None:
        return
    stored = progress.received.stored
    await audit("upload", stored.file_id, size=stored.size, resumable=progress.upload_id)
    if progress.received.queued_jobs:
        await state.jobs.notify()


@router.delete(
    "/{upload_id}",
    status_code=204,
    summary="Abandon a resumable upload (tus termination)",
    responses=RESPONSES,
    openapi_extra=tus_request(),
)
async def terminate(upload_id: str, request: Request, state: StateDep, actor: ActorDep) -> Response:
    protocol.require_version(request.headers)
    require(actor, Permission.upload)
    await state.resumables.terminate(actor, upload_id)
    return Response(status_code=204)
