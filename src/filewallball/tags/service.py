"""The rules of tagging: the owner or an admin changes a file's tags; names are normalised."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.access.roles import Actor, Permission, require
from filewallball.cache import Cache
from filewallball.db import after_commit
from filewallball.errors import Forbidden
from filewallball.files import repository as files_repository
from filewallball.files import service as files_service
from filewallball.tag_names import normalise_tags, require_at_most_max
from filewallball.tags import repository
from filewallball.tags.schemas import TagCount


async def change(
    session: AsyncSession,
    cache: Cache,
    file_id: str,
    actor: Actor,
    *,
    replace: Iterable[str] | None = None,
    add: Iterable[str] | None = None,
    remove: Iterable[str] | None = None,
) -> list[str]:
    """Replace, extend or trim a file's tags; answers the tags it has afterwards."""
    stored = await files_service.find_file(session, cache, file_id, actor)
    if not files_service.may_manage(stored, actor):
        raise Forbidden("Only the file's owner or an admin may change its tags.")
    await files_service.hold(cache, stored.file_id)
    if replace is not None:
        tags = await files_repository.tags_named(session, normalise_tags(replace))
        await repository.unlink(session, stored.id, keep=tags)
        await repository.link(session, stored.id, tags)
    if add is not None:
        wanted = normalise_tags(add)
        current = await repository.names_of(session, stored.id)
        require_at_most_max([*current, *wanted])
        await repository.link(
            session, stored.id, await files_repository.tags_named(session, wanted)
        )
    if remove is not None:
        await repository.unlink(session, stored.id, drop=normalise_tags(remove))
    names = await repository.names_of(session, stored.id)
    await files_repository.touch(session, stored.id)
    after_commit(session, lambda: files_service.forget(cache, stored.file_id))
    return names


async def counts(session: AsyncSession, actor: Actor, limit: int) -> list[TagCount]:
    require(actor, Permission.read)
    seen_by = None if actor.is_admin else files_repository.Viewer(actor.key_pk)
    return [
        TagCount(tag=name, count=uses)
        for name, uses in await repository.counts(session, seen_by, limit)
    ]
