"""Whether a file may come in, decided from its name and declared size before its bytes are read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.errors import PayloadTooLarge, UnsupportedMediaType
from filewallball.files.naming import extension_of, safe_filename
from filewallball.files.upload.rules import ExtensionRules


@dataclass(frozen=True, slots=True)
class Admission:
    """A file let in: the name it is stored under, its category and the size it must stay in."""

    filename: str
    extension: str
    category_id: int
    category: str
    size_limit: int
    declared_mime_type: str | None  # the extension rule's type, a hint for sniffing


def refuse_declared_over(at_least: int | None, limit: int) -> None:
    """PayloadTooLarge when the transport already knows the file has more than `limit` bytes
    (`at_least`: e.g. a Content-Length less the most its framing can take)."""
    if at_least is not None and at_least > limit:
        raise PayloadTooLarge(too_large(limit))


def too_large(limit: int) -> str:
    return f"The file is larger than the limit of {limit} bytes."


async def admit(
    sessions: async_sessionmaker[AsyncSession],
    rules: ExtensionRules,
    raw_filename: str | None,
    *,
    max_file_size: int,
    at_least: int | None = None,
) -> Admission:
    """The file's safe name, category and size limit; UnsupportedMediaType for a refused
    type, PayloadTooLarge when `at_least` is over the extension's own limit."""
    filename = safe_filename(raw_filename)
    extension = extension_of(filename)
    rule = await rules.rule(sessions, extension)
    if not rule.is_allowed:
        raise UnsupportedMediaType(f"Files of type .{extension} are not accepted.")
    limit = max_file_size
    if rule.max_file_size is not None:
        limit = min(limit, rule.max_file_size)
    refuse_declared_over(at_least, limit)
    return Admission(
        filename=filename,
        extension=extension,
        category_id=rule.category_id,
        category=rule.category,
        size_limit=limit,
        declared_mime_type=rule.mime_type,
    )
