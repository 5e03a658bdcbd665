"""HTTP semantics of a download: validators, one byte range, and a body that the server sends
from the blob's file by itself when it can, or that streams through here, its bytes counted as
they really leave, so a cut-off download records what was sent."""

from __future__ import annotations

import contextlib
import re
import time
import unicodedata
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

import anyio
import anyio.lowlevel
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from filewallball.errors import RangeNotSatisfiable
from filewallball.request_context import add_to_access_line

_SINGLE_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")  # 18 digits: past any file size
_SPECIAL_IN_QUOTES = frozenset('"\\;%')
DOWNLOAD_CSP = "default-src 'none'; sandbox"
# The ASGI extension through which the server sends a file by itself (granian offers it).
PATHSEND = "http.response.pathsend"


@dataclass(frozen=True, slots=True)
class Validators:
    etag: str
    last_modified: datetime

    @property
    def http_date(self) -> str:
        return format_datetime(self.last_modified.replace(microsecond=0), usegmt=True)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to answer: 200, 206 (with a range) or 304."""

    status: int
    start: int = 0
    length: int = 0


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in candidates or etag in candidates


def _not_modified(headers: Headers, validators: Validators) -> bool:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, validators.etag)
    since = _parse_date(headers.get("if-modified-since"))
    return since is not None and validators.last_modified.replace(microsecond=0) <= since


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _range_applies(headers: Headers, validators: Validators) -> bool:
    if_range = headers.get("if-range")
    if if_range is None:
        return True
    if if_range.startswith(('"', 'W/"')):
        # If-Range needs a strong match.
        return if_range == validators.etag
    since = _parse_date(if_range)
    return since is not None and since == validators.last_modified.replace(microsecond=0)


def plan_response(headers: Headers, validators: Validators, size: int) -> Plan:
    """Decide the status and byte range for a GET or HEAD of a `size`-byte blob.

    Only a single range is served; several ranges, or a header we cannot read, get the whole
    file, which RFC 9110 allows and which costs no more than one range.
    """
    if _not_modified(headers, validators):
        return Plan(304)
    whole = Plan(200, 0, size)
    header = headers.get("range")
    if header is None or not _range_applies(headers, validators):
        return whole
    match = _SINGLE_RANGE.fullmatch(header.strip())
    if match is None:
        return whole
    first, last = match.groups()
    if not first:
        if not last:
            return whole
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        start = max(size - suffix, 0)
        return Plan(206, start, size - start)
    start = int(first)
    if last and int(last) < start:
        return whole
    if start >= size:
        raise _unsatisfiable(size)
    end = int(last) if last else size - 1
    end = min(end, size - 1)
    return Plan(206, start, end - start + 1)


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"The range is outside the file, which has {size} bytes.",
        headers={"Content-Range": f"bytes */{size}"},
    )


def content_disposition(filename: str, kind: str = "attachment") -> str:
    """RFC 6266: the name in `filename*` (RFC 5987) and, readable, in UTF-8 in `filename`.

    Browsers take `filename*`; curl -OJ and many scripts read only `filename`, where an ASCII
    stand-in would turn a Korean name into underscores. So `filename` carries the name's own
    UTF-8 bytes, with every character that could end the quoted string or the header (quote,
    backslash, CR, LF and every other control or format character), and `;` and `%` that
    careless parsers split on or decode, replaced by `_`. Starlette writes header strings as
    latin-1, so the UTF-8 bytes travel as the latin-1 characters of the same bytes and reach
    the wire unchanged (as obs-text, which HTTP/1.1 servers and clients accept).
    """
    readable = "".join("_" if _unsafe_in_quotes(char) else char for char in filename)
    as_sent = readable.encode("utf-8").decode("latin-1") or "download"
    encoded = quote(filename.encode("utf-8", "replace"), safe="")
    return f"{kind}; filename=\"{as_sent}\"; filename*=UTF-8''{encoded}"


def _unsafe_in_quotes(char: str) -> bool:
    # Categories C* (controls, format characters such as bidi overrides, surrogates) and the
    # line and paragraph separators: nothing a reader should find inside a file name.
    category = unicodedata.category(char)
    return char in _SPECIAL_IN_QUOTES or category.startswith("C") or category in ("Zl", "Zp")


# Called once the body is done or cut off: bytes sent (or handed to the server), whether
# all were, elapsed ms.
OnFinish = Callable[[int, bool, int], Awaitable[None]]


class CountedStreamResponse(Response):
    """Sends a blob and reports how the download ended.

    Given `content` (the body in hand, a small file's), it goes in one message. Given `file` (a
    file holding exactly the body) and a server offering pathsend, the server sends the file
    itself and no byte passes through Python; the app then only knows that it handed the file
    over, and reports the whole body as sent. Otherwise the body streams through here and
    every chunk is counted as it leaves, even when the client goes away.
    """

    def __init__(
        self,
        body: AsyncGenerator[bytes, None] | None,
        *,
        status_code: int,
        headers: Mapping[str, str],
        on_finish: OnFinish,
        file: Path | None = None,
        content: bytes | None = None,
    ) -> None:
        super().__init__(status_code=status_code, headers=headers)
        self._body = body
        self._on_finish = on_finish
        self._file = file
        self._content = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        sent = 0
        complete = False
        mode = "stream"
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if self._content is not None:
                mode = "memory"
                with contextlib.suppress(OSError):  # gone before it took the body: aborted
                    await send({"type": "http.response.body", "body": self._content})
                    sent, complete = len(self._content), True
                return
            if self._body is None:
                await send({"type": "http.response.body", "body": b""})
                complete = True
                return
            if self._file is not None and PATHSEND in scope.get("extensions", {}):
                mode = "pathsend"
                await send({"type": PATHSEND, "path": str(self._file)})
                # Handed over: the server sends it from here on, out of our sight.
                sent, complete = int(self.headers["content-length"]), True
                return
            async with anyio.create_task_group() as group:

                async def watch_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(watch_disconnect)
                try:
                    async for chunk in self._body:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                        sent += len(chunk)
                        # A fast source (S3) and a server that takes a chunk at once may never
                        # suspend: let the watcher hear of a client that left.
                        await anyio.lowlevel.checkpoint()
                    await send({"type": "http.response.body", "body": b""})
                    complete = True
                except OSError:
                    pass  # the connection went away under us; `sent` says how far it got
                group.cancel_scope.cancel()
            # A client that has every byte may hang up before the closing empty message.
            complete = complete or sent == int(self.headers.get("content-length", -1))
        finally:
            if self._body is not None:
                await self._body.aclose()
            with anyio.CancelScope(shield=True):
                elapsed_ms = round((time.perf_counter() - started) * 1000)
                if self._body is not None or self._content is not None:
                    add_to_access_line(scope, mode=mode, bytes=sent, complete=complete)
                await self._on_finish(sent, complete, elapsed_ms)
