"""GET /thumbnails/{file_id}: a file's thumbnail, cacheable."""

from __future__ import annotations

import enum
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from filewallball.deps import ActorDep, StateDep
from filewallball.files.download import DOWNLOAD_CSP
from filewallball.images import service
from filewallball.problems import AUTH, FILE_NOT_FOUND, GONE, problem_response

router = APIRouter(tags=["images"])


class Size(enum.StrEnum):
    small = "small"  # 256 px on the long side
    medium = "medium"  # 1024 px


@router.get(
    "/thumbnails/{file_id}",
    summary="A thumbnail of an image",
    description=(
        "WebP, 256 px (`small`) or 1024 px (`medium`) on the long side, orientation applied, "
        "metadata stripped. 202 while it is being made; 404 when the file is no image or its "
        "thumbnail could not be made."
    ),
    response_class=Response,
    responses={
        200: {"content": {"image/webp": {"schema": {"type": "string", "format": "binary"}}}},
        202: problem_response(202, "The thumbnail is being made. Try again in a moment."),
        304: {"description": "The copy the client has is current."},
        **AUTH,
        **FILE_NOT_FOUND,
        **GONE,
    },
)
async def thumbnail(
    file_id: str,
    request: Request,
    state: StateDep,
    actor: ActorDep,
    size: Annotated[Size, Query()] = Size.small,
) -> Response:
    stored = await service.thumbnail(
        state.sessions, state.cache, state.storage, file_id, actor, size
    )
    etag = f'"{stored.sha256[:32]}-{size.value}"'
    headers = {
        "ETag": etag,
        # Cached, but checked each time (cheaply, by ETag): a file made private or deleted
        # must not live on in a shared cache.
        "Cache-Control": "public, no-cache" if stored.is_public else "private, no-cache",
        "Content-Security-Policy": DOWNLOAD_CSP,
        "X-Content-Type-Options": "nosniff",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    key = service.thumbnail_key(stored.storage_key, size.value)
    return StreamingResponse(state.storage.read(key), media_type="image/webp", headers=headers)
