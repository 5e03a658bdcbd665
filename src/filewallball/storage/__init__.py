"""Blob storage backends behind one small protocol."""

from __future__ import annotations

import structlog

from filewallball.settings import Settings
from filewallball.storage.base import BlobInfo, BlobNotFound, BlobWriter, Storage, StorageError
from filewallball.storage.local import LocalStorage
from filewallball.storage.memory import MemoryStorage

__all__ = [
    "BlobInfo",
    "BlobNotFound",
    "BlobWriter",
    "Storage",
    "StorageError",
    "create_storage",
]

log = structlog.get_logger(__name__)


def create_storage(settings: Settings) -> Storage:
    """The backend FWB_STORAGE names, not yet opened."""
    if settings.storage == "memory":
        log.warning(
            "storage_in_memory",
            detail="FWB_STORAGE=memory: every uploaded file vanishes when the process stops. "
            "Use it for tests and trials only.",
        )
        return MemoryStorage()
    if settings.storage == "s3":
        # Imported only here: botocore adds tens of MiB to a process that does not use it.
        from filewallball.storage.s3 import S3Storage

        assert settings.s3_bucket is not None  # the settings refuse s3 without a bucket
        return S3Storage(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            part_size=settings.s3_part_size,
        )
    return LocalStorage(settings.storage_dir)
