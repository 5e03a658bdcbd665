"""A streaming multipart/form-data reader: file bytes pass straight through, never spooled.

python-multipart's push parser does the parsing; this module turns its callbacks into a
sequence of events that the upload service consumes while the request body arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from filewallball.errors import BadRequest

MAX_PARTS = 16
MAX_HEADER_BYTES = 8 * 1024
MAX_FIELD_BYTES = 8 * 1024


@dataclass(frozen=True, slots=True)
class PartStart:
    name: str
    filename: str | None  # None for a plain form field
    content_type: str | None


@dataclass(frozen=True, slots=True)
class PartData:
    data: bytes


@dataclass(frozen=True, slots=True)
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd


def boundary_of(content_type: str | None) -> bytes:
    mime, options = parse_options_header(content_type or "")
    if mime != b"multipart/form-data":
        raise BadRequest("Send the file as multipart/form-data in a field named 'file'.")
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("The multipart body has no boundary.")
    return boundary


def _filename(options: dict[bytes, bytes]) -> str | None:
    extended = options.get(b"filename*")
    if extended is not None:
        # RFC 5987: charset'language'percent-encoded
        charset, _, rest = extended.decode("latin-1").partition("'")
        _, _, encoded = rest.partition("'")
        return unquote(encoded, encoding=charset or "utf-8", errors="replace")
    plain = options.get(b"filename")
    return None if plain is None else plain.decode("utf-8", errors="replace")


class _Collector:
    """Receives the parser's callbacks and queues them as events."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.parts = 0
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._header_bytes = 0

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadRequest(f"Too many form fields (at most {MAX_PARTS}).")
        self._headers = {}
        self._header_bytes = 0

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]
        self._count_header(end - start)

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        self._count_header(end - start)

    def _count_header(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise BadRequest("A multipart part has oversized headers.")

    def on_header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise BadRequest("A multipart part lacks Content-Disposition: form-data; name=...")
        content_type = self._headers.get(b"content-type")
        self.events.append(
            PartStart(
                name=options[b"name"].decode("utf-8", errors="replace"),
                filename=_filename(options),
                content_type=content_type.decode("latin-1") if content_type else None,
            )
        )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.events.append(PartData(bytes(data[start:end])))

    def on_part_end(self) -> None:
        self.events.append(PartEnd())


async def read_events(body: AsyncIterator[bytes], boundary: bytes) -> AsyncIterator[Event]:
    """Yield the parts of a multipart body as it streams in."""
    collector = _Collector()
    parser = MultipartParser(
        boundary,
        callbacks={  # type: ignore[arg-type]
            name: getattr(collector, name)
            for name in (
                "on_part_begin",
                "on_part_data",
                "on_part_end",
                "on_header_field",
                "on_header_value",
                "on_header_end",
                "on_headers_finished",
            )
        },
    )
    async for chunk in body:
        try:
            parser.write(chunk)
        except MultipartParseError:
            raise BadRequest("The multipart body is malformed.") from None
        for event in collector.events:
            yield event
        collector.events.clear()
    try:
        parser.finalize()
    except MultipartParseError:
        raise BadRequest("The multipart body ended early.") from None
    if collector.parts == 0:
        raise BadRequest("The multipart body has no parts.")


async def read_field(events: AsyncIterator[Event], name: str) -> str:
    """Collect a small text field's value up to its PartEnd."""
    value = bytearray()
    async for event in events:
        if isinstance(event, PartEnd):
            return value.decode("utf-8", errors="replace")
        if isinstance(event, PartData):
            value += event.data
            if len(value) > MAX_FIELD_BYTES:
                raise BadRequest(f"The form field {name!r} is too long.")
    raise BadRequest("The multipart body ended early.")
