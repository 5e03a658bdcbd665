"""Blob storage backends behind one small protocol."""

from __future__ import annotations

from filewallball.settings import Settings
from filewallball.storage.base import BlobNotFound, BlobWriter, Storage, StorageError
from filewallball.storage.local import LocalStorage

__all__ = ["BlobNotFound", "BlobWriter", "Storage", "StorageError", "create_storage"]


def create_storage(settings: Settings) -> Storage:
    storage = LocalStorage(settings.storage_dir)
    storage.open()
    return storage
