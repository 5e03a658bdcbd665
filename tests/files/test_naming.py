"""What we keep of a filename and what we decide a file's type is."""

from __future__ import annotations

import pytest

from filewallball.errors import BadRequest, UnsupportedMediaType
from filewallball.files.naming import extension_of, resolve_mime_type, safe_filename

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
ZIP = b"PK\x03\x04" + b"\x00" * 32
ELF = b"\x7fELF" + b"\x00" * 32


def test_long_names_are_cut_to_255_bytes_keeping_the_extension() -> None:
    name = safe_filename("가" * 200 + ".txt")
    assert len(name.encode()) <= 255
    assert name.endswith(".txt")
    assert name.startswith("가")


@pytest.mark.parametrize("raw", [None, "", "   ", "..", "/", "dir/", "\x00\x01"])
def test_names_that_reduce_to_nothing_are_refused(raw: str | None) -> None:
    with pytest.raises(BadRequest):
        safe_filename(raw)


@pytest.mark.parametrize(
    ("name", "extension"),
    [
        ("a.PDF", "pdf"),
        ("archive.tar.gz", "gz"),
        (".bashrc", ""),
        ("noext", ""),
        ("weird.ext with space", ""),
        ("x." + "a" * 30, ""),
    ],
)
def test_extension_is_the_last_lowercase_suffix(name: str, extension: str) -> None:
    assert extension_of(name) == extension


@pytest.mark.parametrize(
    ("extension", "table_mime", "head", "expected"),
    [
        ("png", "image/png", PNG, "image/png"),
        ("png", "image/png", JPEG, "image/jpeg"),  # still an image: the content's type wins
        ("png", "image/png", b"<html>", "application/octet-stream"),
        (
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ZIP,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("txt", "text/plain", PNG, "image/png"),
        ("svg", "image/svg+xml", b"<svg/>", "image/svg+xml"),
        ("", None, b"hello", "text/plain"),
        ("", None, b"\x00\x01\x02", "application/octet-stream"),
    ],
)
def test_type_is_decided_by_content_and_extension(
    extension: str, table_mime: str | None, head: bytes, expected: str
) -> None:
    assert resolve_mime_type(extension, table_mime, head) == expected


@pytest.mark.parametrize(
    ("extension", "table_mime", "head"),
    [("png", "image/png", b"MZ\x90\x00"), ("txt", "text/plain", ELF), ("mp3", "audio/mpeg", PNG)],
)
def test_disguised_content_is_refused(extension: str, table_mime: str, head: bytes) -> None:
    with pytest.raises(UnsupportedMediaType):
        resolve_mime_type(extension, table_mime, head)
