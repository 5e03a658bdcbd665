"""What the S3 backend adds to the storage contract: multipart uploads that never linger, flat
memory whatever the blob's size, and clear failures when the store is missing or unreachable.
Run against a real S3 endpoint over HTTP (moto's server mode)."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest

from filewallball.app import create_app
from filewallball.settings import Settings
from filewallball.storage import StorageError
from filewallball.storage.s3 import MIN_PART_SIZE, S3Storage
from tests.conftest import S3_BUCKET

pytestmark = pytest.mark.anyio
PART = MIN_PART_SIZE


@pytest.fixture
async def storage(s3_endpoint: str) -> AsyncIterator[S3Storage]:
    backend = S3Storage(
        S3_BUCKET,
        prefix=f"s3-tests/{uuid.uuid4().hex}",
        endpoint_url=s3_endpoint,
        region="us-east-1",
        part_size=PART,
    )
    await backend.open()
    yield backend
    await backend.close()


@pytest.fixture
def bucket(s3_endpoint: str) -> Any:
    """The tests' own client of the same bucket, to see what is really there."""
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


def uploads_in_progress(bucket: Any, storage: S3Storage) -> list[str]:
    listing = bucket.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=storage.prefix)
    return [upload["Key"] for upload in listing.get("Uploads", [])]


def pattern(size: int) -> bytes:
    """Bytes whose every MiB differs, so that parts out of order would show."""
    return b"".join(i.to_bytes(4, "big") * (256 * 1024) for i in range(size // (1024 * 1024)))


async def read(storage: S3Storage, key: str, start: int = 0, length: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key, start, length)])


async def test_a_blob_of_several_parts_reads_back_whole_and_by_range(
    storage: S3Storage, bucket: Any
) -> None:
    data = pattern(12 * 1024 * 1024)  # two full parts and a short last one
    writer = storage.writer("ab/cd/large")
    for offset in range(0, len(data), 1024 * 1024):
        await writer.write(data[offset : offset + 1024 * 1024])
    assert uploads_in_progress(bucket, storage) == [storage.object_key("ab/cd/large")]
    await writer.commit()

    assert await read(storage, "ab/cd/large") == data
    across_a_part = await read(storage, "ab/cd/large", PART - 10, 20)
    assert across_a_part == data[PART - 10 : PART + 10]
    head = bucket.head_object(Bucket=S3_BUCKET, Key=storage.object_key("ab/cd/large"))
    assert head["ContentLength"] == len(data)
    assert uploads_in_progress(bucket, storage) == []


async def test_an_aborted_upload_leaves_no_parts_behind(storage: S3Storage, bucket: Any) -> None:
    writer = storage.writer("ab/cd/aborted")
    await writer.write(pattern(11 * 1024 * 1024))
    assert uploads_in_progress(bucket, storage) != []  # two parts are up

    await writer.abort()

    assert uploads_in_progress(bucket, storage) == []
    assert not await storage.exists("ab/cd/aborted")


async def test_an_upload_left_by_a_process_that_died_is_aborted_by_the_sweep(
    storage: S3Storage, bucket: Any
) -> None:
    left = bucket.create_multipart_upload(Bucket=S3_BUCKET, Key=storage.object_key("ab/cd/left"))
    bucket.upload_part(
        Bucket=S3_BUCKET,
        Key=storage.object_key("ab/cd/left"),
        UploadId=left["UploadId"],
        PartNumber=1,
        Body=b"x" * PART,
    )
    ours = storage.writer("ab/cd/ours")
    await ours.write(b"y" * PART)  # under way in this process: spared, however old S3 says

    assert await storage.remove_incomplete(datetime.now(UTC) + timedelta(seconds=1)) == 2
    assert uploads_in_progress(bucket, storage) == []

    fresh = storage.writer("ab/cd/fresh")
    await fresh.write(b"z" * PART)
    assert await storage.remove_incomplete(datetime.now(UTC) - timedelta(hours=1)) == 0
    await fresh.commit()
    assert await read(storage, "ab/cd/fresh") == b"z" * PART


async def test_memory_stays_flat_whatever_the_size(storage: S3Storage) -> None:
    block = b"m" * (1024 * 1024)
    tracemalloc.start()
    try:
        writer = storage.writer("ab/cd/big")
        for _ in range(40):
            await writer.write(block)
        await writer.commit()
        total = 0
        async for chunk in storage.read("ab/cd/big"):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 40 * len(block)
    assert peak < PART  # a part never sits in memory whole: it fills in a temporary file


async def test_a_missing_bucket_fails_the_check(s3_endpoint: str) -> None:
    storage = S3Storage("no-such-bucket", endpoint_url=s3_endpoint, region="us-east-1")
    await storage.open()
    try:
        with pytest.raises(StorageError):
            await storage.check()
    finally:
        await storage.close()


async def test_an_unreachable_store_is_a_storage_error() -> None:
    storage = S3Storage("bucket", endpoint_url="http://127.0.0.1:1", region="us-east-1")
    await storage.open()
    try:
        with pytest.raises(StorageError):
            await storage.stat("ab/cd/any")
        with pytest.raises(StorageError):
            await read(storage, "ab/cd/any")
    finally:
        await storage.close()


async def test_without_its_bucket_the_service_says_storage_is_down(
    settings: Settings, s3_endpoint: str
) -> None:
    app = create_app(
        settings.model_copy(
            update={
                "storage": "s3",
                "s3_bucket": "no-such-bucket",
                "s3_endpoint_url": s3_endpoint,
                "s3_region": "us-east-1",
                "job_concurrency": 0,
            }
        )
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        health = await http.get("/health")
        upload = await http.post("/upload", files={"file": ("a.txt", b"x")})

    assert health.status_code == 503
    assert health.json()["failing"] == ["storage"]
    assert upload.status_code == 503
    assert upload.headers["content-type"] == "application/problem+json"
    assert "no-such-bucket" not in upload.text and s3_endpoint not in upload.text
