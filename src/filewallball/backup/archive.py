"""Where backups live: a folder or a bucket prefix, reached through the storage seam. Blobs are
kept once, by their SHA-256, and shared by every snapshot (so each backup after the first copies
only what is new); each snapshot has its tables and, written last, its manifest.

    blobs/ab/abcdef…                     a blob, named by its SHA-256
    snapshots/20261130T180000Z/tables/files.jsonl.gz
    snapshots/20261130T180000Z/blobs.jsonl.gz   every blob: its key here and in the instance
    snapshots/20261130T180000Z/manifest.json
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filewallball.settings import Settings
from filewallball.storage import BlobNotFound, Storage, create_storage

FORMAT = 1


@dataclass(frozen=True, slots=True)
class BlobEntry:
    key: str  # where the instance keeps it
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class TableEntry:
    rows: int
    sha256: str  # of the table's file


@dataclass(slots=True)
class Manifest:
    snapshot: str
    created_at: str
    revision: str  # the schema the rows fit
    database: str  # the dialect they came from
    tables: dict[str, TableEntry] = field(default_factory=dict)
    # The blobs are listed in their own file (blobs.jsonl.gz), which may hold millions.
    blob_count: int = 0
    blob_bytes: int = 0
    blobs_sha256: str = ""
    missing: list[str] = field(default_factory=list)  # rows whose blob could not be read
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data: dict[str, Any] = json.loads(raw)
        if data.get("format") != FORMAT:
            raise ValueError(f"backup format {data.get('format')!r} is not {FORMAT}")
        data["tables"] = {name: TableEntry(**entry) for name, entry in data["tables"].items()}
        return cls(**data)


def blob_key(sha256: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256}"


def table_key(snapshot: str, table: str) -> str:
    return f"snapshots/{snapshot}/tables/{table}.jsonl.gz"


def blobs_key(snapshot: str) -> str:
    return f"snapshots/{snapshot}/blobs.jsonl.gz"


def manifest_key(snapshot: str) -> str:
    return f"snapshots/{snapshot}/manifest.json"


def open_place(place: str, settings: Settings) -> Storage:
    """The storage of a backup place: `s3://bucket/prefix` (on the service's S3 endpoint and
    credentials) or a folder."""
    target: dict[str, object] = {"storage": "local", "storage_dir": Path(place)}
    if place.startswith("s3://"):
        bucket, _, prefix = place.removeprefix("s3://").partition("/")
        target = {"storage": "s3", "s3_bucket": bucket, "s3_prefix": prefix}
    return create_storage(settings.model_copy(update=target))


async def read_all(storage: Storage, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key)])


async def write_all(storage: Storage, key: str, data: bytes) -> None:
    writer = storage.writer(key)
    try:
        await writer.write(data)
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise


async def snapshots(storage: Storage) -> list[str]:
    """The complete snapshots (those with a manifest), oldest first."""
    names = [
        info.key.split("/")[1]
        async for info in storage.list("snapshots/")
        if info.key.endswith("/manifest.json")
    ]
    return sorted(names)


async def manifest(storage: Storage, snapshot: str | None) -> Manifest:
    """The manifest of `snapshot`, or of the latest; LookupError when there is none."""
    chosen = snapshot or next(iter(reversed(await snapshots(storage))), None)
    if chosen is None:
        raise LookupError("no complete snapshot here")
    try:
        return Manifest.from_json(await read_all(storage, manifest_key(chosen)))
    except BlobNotFound:
        raise LookupError(f"no complete snapshot named {chosen}") from None
