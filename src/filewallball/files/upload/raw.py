"""The raw transport: the request body is the file, as `curl -T report.pdf http://…/upload/`
sends it (curl puts the file's name at the end of the URL)."""

from __future__ import annotations

from starlette.requests import Request

from filewallball.files.upload.multipart import declared_length
from filewallball.files.upload.pipeline import Upload
from filewallball.files.upload.recording import Received
from filewallball.tag_names import parse_tags


async def receive(
    upload: Upload,
    request: Request,
    filename: str,
    *,
    tags: str | None,
    is_public: bool,
    expires_in: str | None = None,
    max_downloads: str | None = None,
) -> Received:
    """Feed the body of `request` through `upload` as the file `filename`, then record it with
    `tags` (comma-separated) and its retention."""
    declared = declared_length(request)
    upload.refuse_declared_over(declared)  # before a byte is read
    admission = await upload.admit(filename, at_least=declared)
    blob = await upload.land(admission, upload.body(request.stream()))
    return await upload.record(
        blob,
        tags=parse_tags(tags),
        is_public=is_public,
        expires_in=expires_in,
        max_downloads=max_downloads,
    )
