"""Small files kept in memory once downloaded: read from storage once, kept within a budget,
never answered for a blob other than the one a file's metadata names."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filewallball.files.hot_files import ENTRY_BYTES, SMALL_FILE_MAX_BYTES, HotFiles
from filewallball.files.schemas import StoredFile
from filewallball.storage import BlobNotFound
from filewallball.storage.local import LocalStorage

pytestmark = pytest.mark.anyio

KiB = 1024


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[LocalStorage]:
    storage = LocalStorage(tmp_path / "files")
    await storage.open()
    yield storage
    await storage.close()


async def stored(storage: LocalStorage, key: str, content: bytes) -> StoredFile:
    writer = storage.writer(key)
    await writer.write(content)
    await writer.commit()
    return described(key, content)


def described(key: str, content: bytes, size: int | None = None) -> StoredFile:
    now = datetime.now(UTC)
    return StoredFile(
        id=1,
        file_id=key,
        filename=f"{key}.bin",
        extension="bin",
        mime_type="application/octet-stream",
        size=len(content) if size is None else size,
        sha256=hashlib.sha256(content).hexdigest(),
        md5=None,
        storage_key=key,
        category="other",
        is_public=True,
        owner_key_pk=None,
        delete_token_hash=None,
        thumbnail_status="none",
        width=None,
        height=None,
        image_format=None,
        tags=(),
        created_at=now,
        updated_at=now,
    )


async def test_a_small_file_is_read_from_storage_once(storage: LocalStorage) -> None:
    hot = HotFiles(budget=1024 * KiB)
    file = await stored(storage, "small", b"x" * 10 * KiB)

    assert await hot.content(storage, file) == b"x" * 10 * KiB
    await storage.delete("small")
    assert await hot.content(storage, file) == b"x" * 10 * KiB


async def test_another_blob_under_the_same_key_is_never_answered_from_memory(
    storage: LocalStorage,
) -> None:
    hot = HotFiles(budget=1024 * KiB)
    first = await stored(storage, "key", b"first")
    assert await hot.content(storage, first) == b"first"

    second = await stored(storage, "key", b"second")
    assert await hot.content(storage, second) == b"second"


async def test_the_least_recently_downloaded_leave_first_within_the_budget(
    storage: LocalStorage,
) -> None:
    hot = HotFiles(budget=100 * KiB)
    a, b, c = [await stored(storage, name, name.encode() * 40 * KiB) for name in "abc"]
    await hot.content(storage, a)
    await hot.content(storage, b)
    await hot.content(storage, a)  # a is now the more recent of the two
    await hot.content(storage, c)  # 120 KiB in all: b must go
    for name in "abc":
        await storage.delete(name)

    assert await hot.content(storage, a) == b"a" * 40 * KiB
    assert await hot.content(storage, c) == b"c" * 40 * KiB
    with pytest.raises(BlobNotFound):
        await hot.content(storage, b)


async def test_each_kept_file_counts_its_bookkeeping_against_the_budget(
    storage: LocalStorage,
) -> None:
    hot = HotFiles(budget=100 * ENTRY_BYTES)
    tiny = [await stored(storage, f"tiny-{n}", b"x") for n in range(300)]
    for file in tiny:
        await hot.content(storage, file)
    for file in tiny:
        await storage.delete(file.storage_key)

    kept = 0
    for file in tiny:
        try:
            await hot.content(storage, file)
            kept += 1
        except BlobNotFound:
            pass
    assert 0 < kept <= 100  # not 300 one-byte files in a budget of 100 KiB


async def test_large_files_and_a_budget_of_nothing_keep_nothing(storage: LocalStorage) -> None:
    large = await stored(storage, "large", b"l" * (SMALL_FILE_MAX_BYTES + 1))
    small = await stored(storage, "small", b"s")

    assert await HotFiles(budget=1024 * KiB).content(storage, large) is None
    assert await HotFiles(budget=0).content(storage, small) is None


async def test_a_blob_of_another_size_than_its_row_says_is_not_kept(
    storage: LocalStorage,
) -> None:
    hot = HotFiles(budget=1024 * KiB)
    await stored(storage, "damaged", b"short")
    file = described("damaged", b"short", size=10)

    assert await hot.content(storage, file) is None
