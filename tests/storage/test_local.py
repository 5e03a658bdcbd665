"""The local storage backend: atomic, private, and never outside its root."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from filewallball.storage import BlobNotFound, StorageError
from filewallball.storage.local import LocalStorage

pytestmark = pytest.mark.anyio


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    backend = LocalStorage(tmp_path / "root")
    backend.open()
    return backend


async def test_blob_is_invisible_until_committed(storage: LocalStorage) -> None:
    writer = storage.writer("ab/cd/blob")
    await writer.write(b"hello ")
    await writer.write(b"world")
    assert not await storage.exists("ab/cd/blob")

    await writer.commit()

    assert await storage.exists("ab/cd/blob")
    assert b"".join([c async for c in storage.read("ab/cd/blob")]) == b"hello world"
    assert b"".join([c async for c in storage.read("ab/cd/blob", 6, 3)]) == b"wor"
    path = storage.path_of("ab/cd/blob")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (path.parent, path.parent.parent):  # cd/ and ab/
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


async def test_every_folder_storage_creates_is_owner_only(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "data" / "files")
    storage.open()
    writer = storage.writer("12/34/blob")
    await writer.write(b"private")
    await writer.commit()
    for folder in ("data", "data/files", "data/files/12", "data/files/12/34"):
        assert stat.S_IMODE((tmp_path / folder).stat().st_mode) == 0o700, folder


async def test_abort_leaves_nothing(storage: LocalStorage) -> None:
    writer = storage.writer("ab/cd/gone")
    await writer.write(b"partial")
    await writer.abort()
    await writer.abort()
    assert [p for p in storage.root.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("key", ["../escape", "ab/../../escape", "/etc/passwd", "", "."])
async def test_keys_cannot_leave_the_root(storage: LocalStorage, key: str) -> None:
    with pytest.raises(StorageError):
        storage.writer(key)


async def test_a_symlink_out_of_the_root_is_refused(storage: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (storage.root / "link").symlink_to(outside)
    with pytest.raises(StorageError):
        storage.writer("link/blob")


async def test_missing_blob(storage: LocalStorage) -> None:
    with pytest.raises(BlobNotFound):
        [chunk async for chunk in storage.read("no/such/blob")]
    await storage.delete("no/such/blob")  # deleting what is gone is fine


async def test_check_fails_when_the_root_is_not_writable(tmp_path: Path) -> None:
    root = tmp_path / "file-not-folder"
    root.write_bytes(b"")
    with pytest.raises(StorageError):
        await LocalStorage(root).check()
