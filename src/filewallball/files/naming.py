"""What we keep of a client's filename, and what its content really is."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from pathlib import PurePosixPath

import filetype

from filewallball.errors import BadRequest, UnsupportedMediaType

MAX_NAME_BYTES = 255
SNIFF_BYTES = 8192
_EXTENSION = re.compile(r"[a-z0-9]{1,20}")

# Magic numbers of native executables: never accepted under a harmless extension.
_EXECUTABLE_MAGIC = (
    b"MZ",  # Windows PE / DOS
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",  # Mach-O, both word sizes and byte orders
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
)
# Formats that are a zip or OLE container inside: the extension names them better than magic.
_CONTAINER_MIMES = {"application/zip", "application/x-ole-storage", "application/x-cfb"}
_MEDIA_TOPS = {"image", "video", "audio"}
_TEXT_APPLICATION = {
    "application/json",
    "application/xml",
    "application/yaml",
    "application/toml",
    "application/sql",
    "application/javascript",
    "application/x-sh",
    "image/svg+xml",
}


def safe_filename(raw: str | None) -> str:
    """The base name of `raw`: no folders, no control characters, Unicode kept, ≤ 255 bytes."""
    if not raw:
        raise BadRequest("The file has no name: send it with a filename.")
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".").strip()
    if not name:
        raise BadRequest("The filename is empty once folders and control characters are removed.")
    if len(name.encode()) > MAX_NAME_BYTES:
        # Cut the stem, keep the extension: it decides how the file is treated.
        stem, dot, suffix = name.rpartition(".")
        tail = dot + suffix if stem and len(suffix.encode()) <= 20 else ""
        head = name[: len(name) - len(tail)].encode()[: MAX_NAME_BYTES - len(tail.encode())]
        name = head.decode("utf-8", errors="ignore") + tail
    return name


def search_text(raw: str) -> str:
    """Text searched for in filenames, normalised as they are: `e` + combining acute finds `é`."""
    return unicodedata.normalize("NFC", raw)


def extension_of(filename: str) -> str:
    """Lower-case last suffix without the dot; empty when there is none we can name."""
    suffix = PurePosixPath(filename).suffix.lower().lstrip(".")
    return suffix if _EXTENSION.fullmatch(suffix) else ""


def is_executable(head: bytes) -> bool:
    return head.startswith(_EXECUTABLE_MAGIC)


# Raster types: thumbnailed by allow-listed decoders, and safe to show inline (no script).
RASTER_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff"}


def is_raster(mime_type: str) -> bool:
    return mime_type in RASTER_TYPES


def is_textual(mime_type: str) -> bool:
    return mime_type.startswith("text/") or mime_type in _TEXT_APPLICATION


def resolve_mime_type(extension: str, table_mime: str | None, head: bytes) -> str:
    """The type we store: the content's, checked against what the extension promises.

    Raises UnsupportedMediaType when the content is a program, or plainly another kind of
    media than the extension claims.
    """
    if is_executable(head):
        raise UnsupportedMediaType("The content is an executable program, which is not accepted.")
    claimed = table_mime or mimetypes.guess_type(f"x.{extension}")[0]
    kind = filetype.guess(head) if head else None
    sniffed: str | None = kind.mime if kind is not None else None
    claimed_top = claimed.partition("/")[0] if claimed else None
    if claimed and claimed_top in _MEDIA_TOPS and claimed != "image/svg+xml":
        if sniffed is None:
            # Named as media, but no known media signature: never trust the name for it.
            return "application/octet-stream"
        if sniffed.partition("/")[0] != claimed_top:
            raise UnsupportedMediaType(
                f"The content is {sniffed}, which does not match the .{extension} extension."
            )
        return sniffed
    if sniffed is not None:
        if claimed and (sniffed == claimed or sniffed in _CONTAINER_MIMES):
            return claimed
        return sniffed
    if claimed:
        return claimed
    return "text/plain" if _looks_like_text(head) else "application/octet-stream"


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed window is still text.
        return exc.start >= len(head) - 3
    return True
