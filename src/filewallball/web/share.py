"""What a share page shows of a file: the file as the API would show it to the same visitor,
and a preview that can never run in our origin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from filewallball.access.roles import Actor
from filewallball.deps import AppState
from filewallball.files import retention
from filewallball.files import service as files_service
from filewallball.files.naming import is_raster, is_textual
from filewallball.files.schemas import StoredFile
from filewallball.request_context import Client

# The start of a text file is enough to recognise it; the rest is a download away.
TEXT_PREVIEW_BYTES = 16 * 1024
# Until its thumbnail is made, an image this small is shown whole: every visitor loads and
# decodes it. A larger one, or one the thumbnailer refused, shows its icon instead.
ORIGINAL_PREVIEW_BYTES = 4 * 1024 * 1024

PreviewKind = Literal["thumbnail", "image", "text", "none"]


@dataclass(frozen=True, slots=True)
class Preview:
    kind: PreviewKind
    text: str | None = None
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Shared:
    file: StoredFile
    preview: Preview
    downloads_left: int | None  # None: the link has no download limit


async def shared_file(state: AppState, file_id: str, actor: Actor, client: Client) -> Shared:
    """The file behind a share link, or the API's own NotFound (unknown, deleted, another's
    private file) or Gone (expired, downloads used up)."""
    stored = await files_service.find_file(state.sessions, state.cache, file_id, actor)
    left = await retention.require_available(state.sessions, stored)
    return Shared(stored, await _preview(state, stored, actor, client), left)


async def _preview(state: AppState, stored: StoredFile, actor: Actor, client: Client) -> Preview:
    if stored.thumbnail_status == "ready":
        return Preview("thumbnail")
    if is_raster(stored.mime_type):
        # /view serves raster images only, in a sandbox: safe for an <img> until the
        # thumbnail is made.
        waiting = stored.thumbnail_status == "pending"
        small = stored.size <= ORIGINAL_PREVIEW_BYTES
        return Preview("image" if waiting and small else "none")
    if not is_textual(stored.mime_type):
        return Preview("none")
    preview = await files_service.preview(
        state.sessions,
        state.cache,
        state.storage,
        state.activity,
        stored.file_id,
        actor,
        client,
        min(TEXT_PREVIEW_BYTES, state.settings.preview_max_bytes),
    )
    assert isinstance(preview, files_service.TextPreview)  # a textual type, checked above
    return Preview("text", preview.text, preview.truncated)
