"""The storage contract: every backend behaves the same. A new backend joins by adding one
entry to BACKENDS, which parametrises the `storage` fixture."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from filewallball.storage import BlobInfo, BlobNotFound, Storage, StorageError
from filewallball.storage.local import LocalStorage
from filewallball.storage.memory import MemoryStorage
from filewallball.storage.s3 import MIN_PART_SIZE, S3Storage
from tests.conftest import S3_BUCKET

pytestmark = pytest.mark.anyio

# Wide enough for a file system whose clock ticks coarsely; only a wrong time falls outside.
CLOCK_SLACK = timedelta(seconds=2)
FAR_FUTURE = datetime(2999, 1, 1, tzinfo=UTC)
FAR_PAST = datetime(2000, 1, 1, tzinfo=UTC)


def s3(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """A bucket of the S3 server the tests run, below a folder of this test's own."""
    return S3Storage(
        S3_BUCKET,
        prefix=f"contract/{tmp_path.name}",
        endpoint_url=request.getfixturevalue("s3_endpoint"),
        region="us-east-1",
        part_size=MIN_PART_SIZE,
    )


# Each backend, built fresh for one test below a private temporary folder.
BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Storage]] = {
    "memory": lambda _, __: MemoryStorage(),
    "local": lambda _, tmp_path: LocalStorage(tmp_path / "blobs"),
    "s3": s3,
}


@pytest.fixture(params=list(BACKENDS))
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backend = BACKENDS[request.param](request, tmp_path)
    await backend.open()
    yield backend
    await backend.close()


async def put(storage: Storage, key: str, data: bytes) -> None:
    writer = storage.writer(key)
    await writer.write(data)
    await writer.commit()


async def read(storage: Storage, key: str, start: int = 0, length: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key, start, length)])


async def listed(storage: Storage, prefix: str = "") -> dict[str, int]:
    """Key → size of every blob the storage lists under `prefix`."""
    blobs = [info async for info in storage.list(prefix)]
    keys = [info.key for info in blobs]
    assert len(keys) == len(set(keys)), "a blob was listed twice"
    return {info.key: info.size for info in blobs}


# Writing, committing, aborting


async def test_a_committed_blob_reads_back_whole(storage: Storage) -> None:
    writer = storage.writer("ab/cd/blob")
    await writer.write(b"hello ")
    await writer.write(b"world")
    await writer.commit()
    assert await read(storage, "ab/cd/blob") == b"hello world"
    assert await storage.exists("ab/cd/blob")


async def test_one_write_of_several_pieces_appends_them_in_order(storage: Storage) -> None:
    writer = storage.writer("ab/cd/blob")
    await writer.write(b"a batch ", b"of ", b"chunks")
    await writer.write(b", then ", b"another")
    await writer.commit()
    assert await read(storage, "ab/cd/blob") == b"a batch of chunks, then another"


async def test_a_blob_is_invisible_until_committed(storage: Storage) -> None:
    writer = storage.writer("ab/cd/blob")
    await writer.write(b"not yet")
    assert not await storage.exists("ab/cd/blob")
    assert await listed(storage) == {}
    with pytest.raises(BlobNotFound):
        await storage.stat("ab/cd/blob")
    with pytest.raises(BlobNotFound):
        await read(storage, "ab/cd/blob")

    await writer.commit()

    assert await storage.exists("ab/cd/blob")
    assert await listed(storage) == {"ab/cd/blob": 7}


async def test_a_writer_that_wrote_nothing_commits_an_empty_blob(storage: Storage) -> None:
    await storage.writer("ab/cd/empty").commit()
    assert await read(storage, "ab/cd/empty") == b""
    assert (await storage.stat("ab/cd/empty")).size == 0


async def test_abort_after_partial_writes_leaves_nothing(storage: Storage) -> None:
    writer = storage.writer("ab/cd/gone")
    await writer.write(b"partial")
    await writer.write(b" more")
    await writer.abort()
    await writer.abort()  # twice is safe
    assert not await storage.exists("ab/cd/gone")
    assert await listed(storage) == {}
    assert await storage.remove_incomplete(FAR_FUTURE) == 0  # nothing left half-written


async def test_abort_after_commit_keeps_the_blob(storage: Storage) -> None:
    writer = storage.writer("ab/cd/kept")
    await writer.write(b"kept")
    await writer.commit()
    await writer.abort()
    assert await read(storage, "ab/cd/kept") == b"kept"


async def test_an_aborted_write_leaves_the_previous_blob_alone(storage: Storage) -> None:
    await put(storage, "ab/cd/blob", b"first")
    writer = storage.writer("ab/cd/blob")
    await writer.write(b"second, abandoned")
    await writer.abort()
    assert await read(storage, "ab/cd/blob") == b"first"


async def test_commit_replaces_a_blob_whole(storage: Storage) -> None:
    await put(storage, "ab/cd/blob", b"a longer first version")
    first = await storage.stat("ab/cd/blob")
    writer = storage.writer("ab/cd/blob")
    await writer.write(b"second")
    assert await read(storage, "ab/cd/blob") == b"a longer first version"  # until committed
    await writer.commit()
    assert await read(storage, "ab/cd/blob") == b"second"
    second = await storage.stat("ab/cd/blob")
    assert second.size == 6
    assert second.modified >= first.modified
    assert await listed(storage) == {"ab/cd/blob": 6}


# Reading ranges

DATA = bytes(range(256)) * 4  # 1024 bytes, each position distinguishable from its neighbours


@pytest.mark.parametrize(
    ("start", "length", "expected"),
    [
        (0, None, DATA),
        (0, 10, DATA[:10]),
        (100, 50, DATA[100:150]),
        (1023, None, DATA[1023:]),  # the last byte
        (1023, 1, DATA[1023:]),
        (0, 0, b""),
        (500, 0, b""),
        (1024, None, b""),  # start == size
        (1024, 10, b""),
        (1000, 100, DATA[1000:]),  # a length past the end is cut at the end
        (0, 10_000, DATA),
    ],
)
async def test_ranges(storage: Storage, start: int, length: int | None, expected: bytes) -> None:
    await put(storage, "ab/cd/range", DATA)
    assert await read(storage, "ab/cd/range", start, length) == expected


async def test_ranges_of_an_empty_blob_are_empty(storage: Storage) -> None:
    await put(storage, "ab/cd/empty", b"")
    assert await read(storage, "ab/cd/empty") == b""
    assert await read(storage, "ab/cd/empty", 0, 0) == b""
    assert await read(storage, "ab/cd/empty", 0, 10) == b""


async def test_a_large_blob_reads_back_in_order_in_pieces(storage: Storage) -> None:
    data = bytes(range(251)) * 8_000  # about 2 MB: several chunks on every backend
    writer = storage.writer("ab/cd/large")
    for offset in range(0, len(data), 300_000):
        await writer.write(data[offset : offset + 300_000])
    await writer.commit()
    chunks = [chunk async for chunk in storage.read("ab/cd/large")]
    assert len(chunks) > 1
    assert b"".join(chunks) == data
    assert await read(storage, "ab/cd/large", 1_000_001, 700_000) == data[1_000_001:1_700_001]


async def test_reading_a_missing_blob_raises_not_found(storage: Storage) -> None:
    with pytest.raises(BlobNotFound):
        await read(storage, "no/such/blob")
    with pytest.raises(BlobNotFound):
        await read(storage, "no/such/blob", 5, 5)


async def test_not_found_is_a_storage_error() -> None:
    assert issubclass(BlobNotFound, StorageError)


# Stat, exists, delete


async def test_stat_tells_size_and_commit_time(storage: Storage) -> None:
    before = datetime.now(UTC)
    await put(storage, "ab/cd/blob", b"twelve bytes")
    after = datetime.now(UTC)
    info = await storage.stat("ab/cd/blob")
    assert info.key == "ab/cd/blob"
    assert info.size == 12
    assert info.modified.utcoffset() == timedelta(0)
    assert before - CLOCK_SLACK <= info.modified <= after + CLOCK_SLACK


async def test_a_blob_dates_from_its_commit_not_its_last_byte(storage: Storage) -> None:
    # A scan or a slow row may come between the last byte and the commit: the sweep must see
    # a blob as young as its commit.
    writer = storage.writer("ab/cd/scanned")
    await writer.write(b"waited for a verdict" * 10_000)  # past any write buffer
    await asyncio.sleep(1.5)
    committing = datetime.now(UTC)
    await writer.commit()
    # Less slack than the wait: S3 dates objects in whole seconds.
    assert (await storage.stat("ab/cd/scanned")).modified >= committing - timedelta(seconds=1)


async def test_stat_of_a_missing_blob_raises_not_found(storage: Storage) -> None:
    with pytest.raises(BlobNotFound):
        await storage.stat("no/such/blob")


async def test_blob_info_is_frozen(storage: Storage) -> None:
    await put(storage, "ab/cd/blob", b"x")
    info = await storage.stat("ab/cd/blob")
    with pytest.raises(AttributeError):
        info.size = 2  # type: ignore[misc]
    assert info == BlobInfo("ab/cd/blob", 1, info.modified)


async def test_delete_removes_the_blob_and_forgives_a_missing_one(storage: Storage) -> None:
    await put(storage, "ab/cd/one", b"1")
    await put(storage, "ab/cd/two", b"2")
    await storage.delete("ab/cd/one")
    await storage.delete("ab/cd/one")
    await storage.delete("no/such/blob")
    assert not await storage.exists("ab/cd/one")
    assert await storage.exists("ab/cd/two")
    assert await listed(storage) == {"ab/cd/two": 1}
    with pytest.raises(BlobNotFound):
        await read(storage, "ab/cd/one")


async def test_exists_only_for_committed_blobs(storage: Storage) -> None:
    assert not await storage.exists("ab/cd/blob")
    await put(storage, "ab/cd/blob", b"x")
    assert await storage.exists("ab/cd/blob")
    assert not await storage.exists("ab/cd")  # a prefix of a key is not a blob


# A file the server may send by itself


async def test_a_file_offered_to_the_server_holds_exactly_the_committed_blob(
    storage: Storage,
) -> None:
    await put(storage, "ab/cd/blob", b"old")
    await put(storage, "ab/cd/blob", b"the new bytes")
    path = storage.local_path("ab/cd/blob")
    if path is not None:  # a backend without files gives None, and downloads stream instead
        assert path.read_bytes() == b"the new bytes"


async def test_no_file_is_offered_for_a_write_in_progress_or_a_deleted_blob(
    storage: Storage,
) -> None:
    writer = storage.writer("ab/cd/blob")
    await writer.write(b"not yet")
    path = storage.local_path("ab/cd/blob")
    assert path is None or not path.exists()
    await writer.commit()
    await storage.delete("ab/cd/blob")
    path = storage.local_path("ab/cd/blob")
    assert path is None or not path.exists()


async def test_only_a_backend_that_keeps_files_offers_one(storage: Storage) -> None:
    await put(storage, "ab/cd/blob", b"bytes")
    offered = storage.local_path("ab/cd/blob") is not None
    assert offered == (storage.name == "local")


# Listing


async def test_list_by_prefix(storage: Storage) -> None:
    await put(storage, "ab/cd/one", b"1")
    await put(storage, "ab/cd/one.thumbs/small.webp", b"22")
    await put(storage, "ab/ce/two", b"333")
    await put(storage, "xy/zz/three", b"4444")

    assert await listed(storage) == {
        "ab/cd/one": 1,
        "ab/cd/one.thumbs/small.webp": 2,
        "ab/ce/two": 3,
        "xy/zz/three": 4,
    }
    assert await listed(storage, "ab/") == {
        "ab/cd/one": 1,
        "ab/cd/one.thumbs/small.webp": 2,
        "ab/ce/two": 3,
    }
    assert await listed(storage, "ab/c") == await listed(storage, "ab/")
    assert await listed(storage, "ab/cd/one") == {"ab/cd/one": 1, "ab/cd/one.thumbs/small.webp": 2}
    assert await listed(storage, "ab/cd/one.thumbs/") == {"ab/cd/one.thumbs/small.webp": 2}
    assert await listed(storage, "xy/zz/three") == {"xy/zz/three": 4}
    assert await listed(storage, "nothing/here") == {}
    assert await listed(storage, "a") == await listed(storage, "ab/")


async def test_list_of_an_empty_storage_is_empty(storage: Storage) -> None:
    assert await listed(storage) == {}


async def test_list_gives_each_blob_its_stat(storage: Storage) -> None:
    await put(storage, "ab/cd/one", b"12345")
    [info] = [info async for info in storage.list()]
    assert info == await storage.stat("ab/cd/one")


async def test_list_can_be_left_early(storage: Storage) -> None:
    for i in range(10):
        await put(storage, f"ab/{i:02}/blob", b"x")
    listing = storage.list()
    first = await anext(listing)
    await listing.aclose()
    assert first.key.startswith("ab/")


async def test_listing_under_load_shows_exactly_the_committed_blobs(storage: Storage) -> None:
    writers = 60
    committed: set[str] = set()
    unfinished = asyncio.Event()
    seen_during: list[dict[str, int]] = []

    async def write(i: int) -> None:
        key = f"{i % 7:02}/{i:03}/blob"
        writer = storage.writer(key)
        for _ in range(4):
            await writer.write(b"x" * 1000)
            await asyncio.sleep(0)
        if i % 3 == 0:
            await writer.abort()  # abandoned: never listed
        elif i % 3 == 1:
            await writer.commit()
            committed.add(key)
        else:
            await unfinished.wait()  # still being written when the last listing runs
            await writer.abort()

    async def watch() -> None:
        while len(committed) < writers // 3:
            if any(task.done() and task.exception() for task in tasks):
                break  # gather() below raises it
            seen_during.append(await listed(storage))
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(write(i)) for i in range(writers)]
    await watch()
    assert len(committed) == writers // 3
    # Every blob listed while others were being written was a committed, whole one.
    for seen in seen_during:
        assert set(seen) <= committed
        assert set(seen.values()) <= {4000}
    assert await listed(storage) == dict.fromkeys(committed, 4000)
    unfinished.set()
    await asyncio.gather(*tasks)
    assert await listed(storage) == dict.fromkeys(committed, 4000)


# Abandoned writes


async def test_remove_incomplete_removes_abandoned_writes_only(storage: Storage) -> None:
    await put(storage, "ab/cd/kept", b"committed long ago")
    abandoned = storage.writer("ab/cd/abandoned")
    await abandoned.write(b"half")
    other = storage.writer("ef/gh/abandoned")
    await other.write(b"also half")

    # Counting removes nothing.
    assert (await storage.incomplete(FAR_PAST), await storage.incomplete(FAR_FUTURE)) == (0, 2)
    assert await storage.incomplete(FAR_FUTURE) == 2
    assert await storage.remove_incomplete(FAR_PAST) == 0
    assert await storage.remove_incomplete(FAR_FUTURE) == 2
    assert await storage.remove_incomplete(FAR_FUTURE) == 0
    assert await storage.incomplete(FAR_FUTURE) == 0

    assert await read(storage, "ab/cd/kept") == b"committed long ago"
    assert await listed(storage) == {"ab/cd/kept": 18}
    # The abandoned writer cannot bring its blob back.
    with pytest.raises(StorageError):
        await abandoned.commit()
    await abandoned.abort()
    await other.abort()
    assert not await storage.exists("ab/cd/abandoned")


async def test_remove_incomplete_spares_writes_begun_after_the_cutoff(storage: Storage) -> None:
    old = storage.writer("ab/cd/old")
    await old.write(b"old")
    # Pauses on each side of the cutoff, so that a file system's coarse clock still orders them.
    await asyncio.sleep(0.05)
    cutoff = datetime.now(UTC)
    await asyncio.sleep(0.05)
    new = storage.writer("ab/cd/new")
    await new.write(b"new")

    assert await storage.remove_incomplete(cutoff) == 1
    await old.abort()

    await new.write(b" and more")
    await new.commit()
    assert await read(storage, "ab/cd/new") == b"new and more"
    assert await listed(storage) == {"ab/cd/new": 12}


async def test_remove_incomplete_never_touches_committed_blobs(storage: Storage) -> None:
    for i in range(5):
        await put(storage, f"ab/{i:02}/blob", b"x" * i)
    assert await storage.remove_incomplete(FAR_FUTURE) == 0
    assert await listed(storage) == {f"ab/{i:02}/blob": i for i in range(5)}


# Health


async def test_check_passes_on_a_working_backend(storage: Storage) -> None:
    await storage.check()
    assert await listed(storage) == {}  # the probe leaves nothing behind


async def test_every_backend_has_a_name(storage: Storage) -> None:
    assert storage.name in {"memory", "local", "s3"}
