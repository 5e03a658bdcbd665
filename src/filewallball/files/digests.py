"""End-to-end checksums: the digests a client sends with a file's bytes, checked as they stream
before anything is stored, and the one a download carries (RFC 9530, Digest Fields).

A `Content-Digest` or `Repr-Digest` sent with an upload names the file's own bytes: for
`PUT /upload/{name}` they are the body; for a multipart `POST /upload` they are the `file`
part's, since that is the digest a client can know (`sha256sum report.pdf`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass

import anyio.to_thread
import http_sf
from starlette.datastructures import Headers

from filewallball.errors import BadRequest, FileWallBallError
from filewallball.storage import Storage

# RFC 9530's names for the algorithms we verify, and hashlib's for them. Other names a client
# lists are ignored, as the RFC allows; md5 only arrives as Content-MD5 (RFC 1864).
DIGEST_FIELDS = ("content-digest", "repr-digest")
HTTP_ALGORITHMS = {"sha-256": "sha256", "sha-512": "sha512"}
DIGEST_REQUEST_HEADERS = ("Content-Digest", "Repr-Digest", "Content-MD5", "Want-Repr-Digest")


@dataclass(frozen=True, slots=True)
class Expected:
    """One digest the bytes must have: hashlib's algorithm, the value, and where it came from."""

    algorithm: str
    value: bytes
    source: str


def expected_from(headers: Headers) -> list[Expected]:
    """The digests the request promises for the file; BadRequest for one we cannot read."""
    expected = []
    for field in DIGEST_FIELDS:
        if not (lines := headers.getlist(field)):
            continue
        raw = ", ".join(lines)  # a field sent on several lines is one list (RFC 9651)
        members = _dictionary(raw)
        if members is None:
            raise BadRequest(f"The {field} header is not a valid digest list.")
        for name, value in members.items():
            if (algorithm := HTTP_ALGORITHMS.get(name)) is None:
                continue
            if not isinstance(value, bytes):
                raise BadRequest(f"The {field} header's {name} must be a byte sequence, :…:.")
            expected.append(Expected(algorithm, value, field))
    if (md5 := headers.get("content-md5")) is not None:
        expected.append(Expected("md5", decode_base64(md5, "Content-MD5"), "content-md5"))
    return expected


def _dictionary(raw: str) -> dict[str, object] | None:
    """A structured-field dictionary's members' values (parameters dropped); None when `raw`
    is not one."""
    try:
        parsed = http_sf.parse(raw.encode(), tltype="dictionary")
    except (http_sf.StructuredFieldError, UnicodeEncodeError):
        return None
    if not isinstance(parsed, dict):
        return None
    return {
        name: member[0] if isinstance(member, tuple) else member for name, member in parsed.items()
    }


def decode_base64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"The {what} header is not valid base64.") from None


class Verifier:
    """Hashes bytes as they pass with each expected algorithm, then checks every digest."""

    def __init__(
        self,
        expected: Iterable[Expected],
        mismatch: Callable[[str], FileWallBallError] = BadRequest,
    ) -> None:
        self._checks = [
            (want, hashlib.new(want.algorithm, usedforsecurity=False)) for want in expected
        ]
        self._mismatch = mismatch

    def update(self, data: bytes) -> None:
        for _, digest in self._checks:
            digest.update(data)

    def verify(self) -> None:
        """Raise the mismatch error naming the first digest the bytes do not have."""
        for want, digest in self._checks:
            if digest.digest() != want.value:
                raise self._mismatch(
                    f"The content does not match the {want.algorithm} digest sent in "
                    f"{want.source}: nothing was stored."
                )


def repr_digest(sha256_hex: str, wanted: str | None) -> str | None:
    """The Repr-Digest of a stored file, unless the client's Want-Repr-Digest declines sha-256
    (weight 0). Only sha-256 is sent: it is what we keep, and reading a whole file to offer
    another would cost a download of it."""
    if wanted:
        preferences = _dictionary(wanted) or {}
        if preferences.get("sha-256") == 0:
            return None
    value = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
    return f"sha-256=:{value}:"


async def hexdigest_of(storage: Storage, key: str, algorithm: str = "sha256") -> str:
    """The digest (hex) of a stored blob, read through and hashed off the event loop."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    async with aclosing(storage.read(key)) as data:
        async for chunk in data:
            await anyio.to_thread.run_sync(digest.update, chunk)
    return digest.hexdigest()
