"""The local backend's own promises: private, durable, and never outside its root."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from filewallball.storage import BlobNotFound, StorageError
from filewallball.storage.local import LocalStorage, make_private_folders

pytestmark = pytest.mark.anyio


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[LocalStorage]:
    backend = LocalStorage(tmp_path / "root")
    await backend.open()
    yield backend
    await backend.close()


def files_below(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


async def test_blobs_and_their_folders_are_owner_only(storage: LocalStorage) -> None:
    writer = storage.writer("ab/cd/blob")
    await writer.write(b"private")
    [temporary] = files_below(storage.root)
    assert temporary.parent == storage.root / "ab" / "cd"
    assert temporary.name.startswith(".blob.") and temporary.name.endswith(".part")
    assert stat.S_IMODE(temporary.stat().st_mode) == 0o600
    await writer.commit()

    path = storage.root / "ab" / "cd" / "blob"
    assert files_below(storage.root) == [path]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (path.parent, path.parent.parent):  # cd/ and ab/
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


async def test_every_folder_storage_creates_is_owner_only(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "data" / "files")
    await storage.open()
    writer = storage.writer("12/34/blob")
    await writer.write(b"private")
    await writer.commit()
    for folder in ("data", "data/files", "data/files/12", "data/files/12/34"):
        assert stat.S_IMODE((tmp_path / folder).stat().st_mode) == 0o700, folder


def test_new_folders_are_reported_top_down_so_each_parent_can_be_synced(tmp_path: Path) -> None:
    (tmp_path / "ab").mkdir()
    made = make_private_folders(tmp_path / "ab" / "cd" / "ef")
    assert made == [tmp_path / "ab" / "cd", tmp_path / "ab" / "cd" / "ef"]
    assert make_private_folders(tmp_path / "ab" / "cd" / "ef") == []


async def test_abort_removes_the_temporary(storage: LocalStorage) -> None:
    writer = storage.writer("ab/cd/gone")
    await writer.write(b"partial")
    await writer.abort()
    assert files_below(storage.root) == []


@pytest.mark.parametrize(
    "key", ["../escape", "ab/../../escape", "/etc/passwd", "", ".", "ab/.hidden", ".health-x"]
)
async def test_keys_cannot_leave_the_root_or_use_reserved_names(
    storage: LocalStorage, key: str
) -> None:
    with pytest.raises(StorageError):
        storage.writer(key)
    with pytest.raises(StorageError):
        await storage.exists(key)
    with pytest.raises(StorageError):
        storage.local_path(key)  # nor handed to the server to send


async def test_a_prefix_cannot_leave_the_root(storage: LocalStorage) -> None:
    with pytest.raises(StorageError):
        [info async for info in storage.list("../")]


async def test_a_symlink_out_of_the_root_is_refused(storage: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"not a blob")
    (storage.root / "link").symlink_to(outside)
    with pytest.raises(StorageError):
        storage.writer("link/blob")
    with pytest.raises(StorageError):
        storage.local_path("link/secret")
    assert [info async for info in storage.list()] == []  # nor listed through the link


async def test_remove_incomplete_goes_by_the_temporarys_last_write(storage: LocalStorage) -> None:
    stale = storage.writer("ab/cd/stale")
    await stale.write(b"abandoned an hour ago")
    busy = storage.writer("ab/cd/busy")
    await busy.write(b"still arriving")
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    [stale_part] = [p for p in files_below(storage.root) if p.name.startswith(".stale.")]
    os.utime(stale_part, (hour_ago, hour_ago))

    assert await storage.remove_incomplete(datetime.now(UTC) - timedelta(minutes=10)) == 1

    assert not stale_part.exists()
    await busy.commit()
    assert [info.key async for info in storage.list()] == ["ab/cd/busy"]
    await stale.abort()


async def test_check_fails_when_the_root_is_not_writable(tmp_path: Path) -> None:
    root = tmp_path / "file-not-folder"
    root.write_bytes(b"")
    with pytest.raises(StorageError):
        await LocalStorage(root).check()


async def test_a_file_where_a_folder_should_be_is_a_missing_blob(storage: LocalStorage) -> None:
    (storage.root / "ab").write_bytes(b"a stray file where a shard folder goes")
    assert await storage.exists("ab/cd/blob") is False
    with pytest.raises(BlobNotFound):
        [chunk async for chunk in storage.read("ab/cd/blob")]
    with pytest.raises(BlobNotFound):
        await storage.stat("ab/cd/blob")
    await storage.delete("ab/cd/blob")  # nothing to delete, and no error
