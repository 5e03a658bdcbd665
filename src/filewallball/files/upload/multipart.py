"""The multipart/form-data transport: the `file` part's bytes feed the upload pipeline as they
arrive; the small fields (`tags`, `is_public`) may come before or after it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from starlette.requests import Request

from filewallball.errors import BadRequest
from filewallball.files._multipart import (
    Event,
    PartData,
    PartEnd,
    PartStart,
    boundary_of,
    read_events,
    read_field,
)
from filewallball.files.upload.landing import LandedBlob
from filewallball.files.upload.pipeline import Upload
from filewallball.files.upload.recording import Received
from filewallball.files.visibility import parse_is_public
from filewallball.tag_names import parse_tags

MULTIPART_OVERHEAD = 64 * 1024  # room for boundaries, part headers and the small fields


def declared_length(request: Request) -> int | None:
    """The request's Content-Length, when it sends a plain number."""
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isascii() and declared.isdigit() else None


async def receive(upload: Upload, request: Request) -> Received:
    """Feed the form in `request` through `upload`: one file part named `file`, then record it
    with the form's fields. BadRequest for a form that is not one."""
    declared = declared_length(request)
    # The file has at least this many bytes: refused before reading one when it is too many.
    at_least = None if declared is None else declared - MULTIPART_OVERHEAD
    upload.refuse_declared_over(at_least)
    boundary = boundary_of(request.headers.get("content-type"))
    events = read_events(upload.body(request.stream()), boundary)
    fields: dict[str, str] = {}
    blob: LandedBlob | None = None
    async for event in events:
        if not isinstance(event, PartStart):
            raise BadRequest("The multipart body is malformed.")
        if event.filename is None:
            fields[event.name] = await read_field(events, event.name)
        elif event.name != "file":
            raise BadRequest(f"Unexpected file field {event.name!r}: send it as 'file'.")
        elif blob is not None:
            raise BadRequest("Send one file per upload.")
        else:
            admission = await upload.admit(event.filename, at_least=at_least)
            async with aclosing(_part_bytes(events)) as data:
                blob = await upload.land(admission, data)
    if blob is None:
        raise BadRequest("No file was sent: put it in a multipart field named 'file'.")
    return await upload.record(
        blob,
        tags=parse_tags(fields.get("tags")),
        is_public=parse_is_public(fields.get("is_public")),
        expires_in=fields.get("expires_in"),
        max_downloads=fields.get("max_downloads"),
    )


async def _part_bytes(events: AsyncIterator[Event]) -> AsyncGenerator[bytes, None]:
    """The bytes of the part being read, up to its end."""
    async for event in events:
        if isinstance(event, PartEnd):
            return
        if not isinstance(event, PartData):
            raise BadRequest("The multipart body is malformed.")
        yield event.data
    raise BadRequest("The multipart body ended in the middle of the file.")
