"""The tus 1.0.0 wire format (https://tus.io/protocols/resumable-upload): its headers, read and
written, and what the server advertises."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from starlette.datastructures import Headers

from filewallball.errors import BadRequest, PreconditionFailed, UnsupportedMediaType
from filewallball.files.digests import Expected, decode_base64

TUS_VERSION = "1.0.0"
EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "termination",
    "expiration",
    "checksum",
    "concatenation",
)
# Upload-Checksum's algorithm names (the tus registry's) and hashlib's for them.
CHECKSUM_ALGORITHMS = {"sha1": "sha1", "sha256": "sha256", "md5": "md5"}
CHUNK_CONTENT_TYPE = "application/offset+octet-stream"
# Headers every browser client must be able to send and read from another origin.
REQUEST_HEADERS = (
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Offset",
    "Upload-Metadata",
    "Upload-Checksum",
    "Upload-Concat",
    "Upload-Defer-Length",
)
RESPONSE_HEADERS = (
    "Location",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Expires",
    "Upload-Metadata",
    "Upload-Concat",
)
# What the request that finishes an upload adds: the file it became (tus has no word for it).
FILE_HEADERS = (
    "X-File-Id",
    "X-Info-Url",
    "X-View-Url",
    "X-Download-Url",
    "X-Share-Url",
    "X-Delete-Token",
)
_METADATA_KEY = re.compile(r"[\x21-\x2b\x2d-\x7e]+")  # ASCII, no spaces or commas
_CONCAT_FINAL = "final;"


def advertised(max_size: int) -> dict[str, str]:
    """What OPTIONS says about the server."""
    return {
        "Tus-Resumable": TUS_VERSION,
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(EXTENSIONS),
        "Tus-Max-Size": str(max_size),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }


def require_version(headers: Headers) -> None:
    """PreconditionFailed, naming the version we speak, unless the client speaks it too."""
    if headers.get("tus-resumable") != TUS_VERSION:
        raise PreconditionFailed(
            f"Send 'Tus-Resumable: {TUS_VERSION}': it is the version of tus this server speaks.",
            headers={"Tus-Version": TUS_VERSION},
        )


def has_body(headers: Headers) -> bool:
    """Whether the request brings bytes (a creation may, or may not)."""
    return "chunked" in headers.get("transfer-encoding", "") or headers.get(
        "content-length", "0"
    ) not in ("", "0")


def require_chunk(headers: Headers) -> None:
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != CHUNK_CONTENT_TYPE:
        raise UnsupportedMediaType(f"Send the upload's bytes as {CHUNK_CONTENT_TYPE}.")


def non_negative(headers: Headers, name: str) -> int | None:
    """The header's value as a byte count; None when absent, BadRequest when not a count."""
    value = headers.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise BadRequest(f"{name} must be a number of bytes.")
    return int(value)


def parse_metadata(value: str | None) -> dict[str, str | None]:
    """Upload-Metadata: `key base64value` pairs separated by commas, the value optional."""
    metadata: dict[str, str | None] = {}
    for pair in (value or "").split(","):
        if not pair.strip():
            continue
        key, _, encoded = pair.strip().partition(" ")
        if not _METADATA_KEY.fullmatch(key) or key in metadata:
            raise BadRequest("Upload-Metadata must hold distinct keys, each with base64 value.")
        if not encoded:
            metadata[key] = None
            continue
        try:
            metadata[key] = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, ValueError):
            raise BadRequest(f"Upload-Metadata's {key!r} is not base64 of UTF-8 text.") from None
    return metadata


def parse_checksum(value: str | None) -> Expected | None:
    """Upload-Checksum: `algorithm base64digest`; BadRequest for an algorithm we do not offer."""
    if value is None:
        return None
    name, _, encoded = value.strip().partition(" ")
    algorithm = CHECKSUM_ALGORITHMS.get(name.lower())
    if algorithm is None:
        raise BadRequest(
            f"Upload-Checksum's algorithm must be one of {', '.join(CHECKSUM_ALGORITHMS)}."
        )
    return Expected(algorithm, decode_base64(encoded, "Upload-Checksum"), "Upload-Checksum")


@dataclass(frozen=True, slots=True)
class Concat:
    """Upload-Concat: a partial upload, or the final one made of the partials named."""

    partial: bool
    parts: tuple[str, ...] = ()


def parse_concat(value: str | None) -> Concat | None:
    if value is None:
        return None
    value = value.strip()
    if value == "partial":
        return Concat(partial=True)
    if value.startswith(_CONCAT_FINAL):
        urls = value.removeprefix(_CONCAT_FINAL).split()
        parts = tuple(url.rstrip("/").rsplit("/", 1)[-1] for url in urls)
        if parts and all(parts):
            return Concat(partial=False, parts=parts)
    raise BadRequest("Upload-Concat must be 'partial' or 'final;' and the partial uploads' URLs.")


def http_date(moment: datetime) -> str:
    return format_datetime(moment.replace(microsecond=0), usegmt=True)
