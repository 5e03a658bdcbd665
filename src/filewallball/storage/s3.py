"""Blobs as objects in any S3-compatible store (AWS S3, MinIO, Ceph RGW, Garage), shared by
every replica.

A blob smaller than `part_size` is one PUT at commit; a larger one is a multipart upload whose
parts go out as they fill. A part fills in an unlinked temporary file (in $TMPDIR), so memory
stays flat however many uploads run; nothing is visible under the key until the upload
completes. Every failure aborts the upload, so that no parts linger; an upload abandoned by a
process that died is listed and aborted by `remove_incomplete` (the sweep), and a bucket
lifecycle rule for incomplete uploads is the second net.

Credentials come from botocore's usual chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a
credentials file (AWS_SHARED_CREDENTIALS_FILE, e.g. a mounted Secret), or the pod's identity.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import weakref
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import anyio.to_thread
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from filewallball.storage.base import BlobInfo, BlobNotFound, StorageError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3's floor for every part but the last
# A download relays the object in pieces this size: 20 at once in 512 KiB pieces took the
# process past its memory budget (bench/memory_under_load.py).
READ_CHUNK = 128 * 1024
_MISSING = {"NoSuchKey", "404", "NotFound"}
T = TypeVar("T")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _storage_error(exc: Exception, key: str = "") -> StorageError:
    """What a failed request means to the caller: BlobNotFound for a missing key."""
    if isinstance(exc, ClientError):
        if _code(exc) in _MISSING:
            return BlobNotFound(key)
        return StorageError(f"object store refused: {exc}")
    return StorageError(f"object store unreachable: {exc}")


async def _call(request: Awaitable[T], key: str = "") -> T:
    try:
        return await request
    except (ClientError, BotoCoreError, OSError) as exc:
        raise _storage_error(exc, key) from None


class S3Storage:
    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        part_size: int = 8 * MiB,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"S3 parts are at least {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.part_size = part_size
        self._endpoint_url = endpoint_url
        self._region = region
        self._stack = contextlib.AsyncExitStack()
        self._client: S3Client | None = None
        # This process's writes in progress; one dropped unfinished is forgotten with it.
        self.writers: weakref.WeakSet[S3BlobWriter] = weakref.WeakSet()

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise StorageError("the object store is not open")
        return self._client

    def object_key(self, key: str) -> str:
        return self.prefix + key

    async def open(self) -> None:
        config = AioConfig(
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            # Our own SHA-256 already covers every upload; a checksum per part only costs CPU.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # Nor a SHA-256 of each part for its signature, which botocore takes on plain
            # HTTP only (over HTTPS streamed bodies go unsigned anyway): it read and hashed
            # each 8 MiB part on the event loop, holding every other request up meanwhile.
            s3={"payload_signing_enabled": False},
        )
        self._client = await self._stack.enter_async_context(
            get_session().create_client(
                "s3", endpoint_url=self._endpoint_url, region_name=self._region, config=config
            )
        )

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None

    def writer(self, key: str) -> S3BlobWriter:
        writer = S3BlobWriter(self, key)
        self.writers.add(writer)
        return writer

    async def read(
        self, key: str, start: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        if length == 0:
            await self.stat(key)  # a missing blob is still missing
            return
        wanted = f"bytes={start}-" if length is None else f"bytes={start}-{start + length - 1}"
        try:
            answer = await self.client.get_object(
                Bucket=self.bucket, Key=self.object_key(key), Range=wanted
            )
        except (ClientError, BotoCoreError, OSError) as exc:
            if isinstance(exc, ClientError) and _code(exc) == "InvalidRange":
                return  # a range from past the end: nothing to send
            raise _storage_error(exc, key) from None
        async with answer["Body"] as body:
            try:
                async for chunk in body.iter_chunks(READ_CHUNK):
                    yield chunk
            except (BotoCoreError, OSError) as exc:
                raise _storage_error(exc, key) from None

    def local_path(self, key: str) -> Path | None:
        return None

    async def stat(self, key: str) -> BlobInfo:
        head = await _call(
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key)), key
        )
        return BlobInfo(key, int(head["ContentLength"]), head["LastModified"])

    async def delete(self, key: str) -> None:
        await _call(self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key)), key)

    async def exists(self, key: str) -> bool:
        try:
            await self.stat(key)
        except BlobNotFound:
            return False
        return True

    async def list(self, prefix: str = "") -> AsyncGenerator[BlobInfo, None]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.object_key(prefix)
        )
        async for page in _pages(pages):
            for item in page.get("Contents", []):
                key = item["Key"].removeprefix(self.prefix)
                yield BlobInfo(key, int(item["Size"]), item["LastModified"])

    async def incomplete(self, older_than: datetime) -> int:
        stale = sum(1 for writer in self.writers if writer.begun < older_than)
        return stale + len([upload async for upload in self._abandoned(older_than)])

    async def remove_incomplete(self, older_than: datetime) -> int:
        """This process's writes begun before `older_than`, and every multipart upload in the
        bucket begun before it that no write of this process owns (one left by a process that
        died)."""
        removed = 0
        for writer in list(self.writers):
            if writer.begun < older_than:
                await writer.abort()
                removed += 1
        async for key, upload_id in self._abandoned(older_than):
            await _abort(self, key, upload_id)
            removed += 1
        return removed

    async def _abandoned(self, older_than: datetime) -> AsyncIterator[tuple[str, str]]:
        """(key, upload id) of the bucket's multipart uploads begun before `older_than` that
        no write of this process owns."""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        async for page in _pages(pages):
            ours = {writer.upload_id for writer in self.writers}  # still being written
            for upload in page.get("Uploads", []):
                if upload["UploadId"] not in ours and upload["Initiated"] < older_than:
                    yield upload["Key"], upload["UploadId"]

    async def check(self) -> None:
        probe = self.object_key(f".health-{secrets.token_hex(8)}")
        await _call(self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok"))
        await _call(self.client.delete_object(Bucket=self.bucket, Key=probe))


async def _pages(pages: AsyncIterable[T]) -> AsyncIterator[T]:
    """A paginator's pages, its failures as StorageError."""
    try:
        async for page in pages:
            yield page
    except (ClientError, BotoCoreError, OSError) as exc:
        raise _storage_error(exc) from None


async def _abort(storage: S3Storage, object_key: str, upload_id: str) -> None:
    try:
        await storage.client.abort_multipart_upload(
            Bucket=storage.bucket, Key=object_key, UploadId=upload_id
        )
    except (ClientError, BotoCoreError, OSError) as exc:
        if isinstance(exc, ClientError) and _code(exc) == "NoSuchUpload":
            return  # aborted already, by us or by the sweep
        raise _storage_error(exc) from None


class S3BlobWriter:
    """A part fills in a temporary file, not in memory: twenty uploads at once cost the process
    nothing more than one. The multipart upload begins with the first full part, so a blob
    smaller than a part is one plain PUT at commit."""

    def __init__(self, storage: S3Storage, key: str) -> None:
        self.begun = datetime.now(UTC)
        self.upload_id: str | None = None
        self._storage = storage
        self._key = key
        self._object_key = storage.object_key(key)
        self._parts: list[CompletedPartTypeDef] = []
        self._spool: IO[bytes] | None = None  # the part being filled; unlinked from the start
        self._filled = 0
        self._done = False

    async def write(self, *data: bytes) -> None:
        if self._done:
            raise StorageError("this write is over")
        if self._spool is None:
            self._spool = await anyio.to_thread.run_sync(tempfile.TemporaryFile)
        await anyio.to_thread.run_sync(self._spool.writelines, data)
        self._filled += sum(map(len, data))
        if self._filled >= self._storage.part_size:  # parts may differ in size, not be small
            await self._send()

    async def _send(self) -> None:
        client, bucket = self._storage.client, self._storage.bucket
        if self.upload_id is None:
            started = await _call(
                client.create_multipart_upload(Bucket=bucket, Key=self._object_key)
            )
            self.upload_id = started["UploadId"]
        number = len(self._parts) + 1
        answer = await _call(
            client.upload_part(
                Bucket=bucket,
                Key=self._object_key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=await self._rewound(),
                ContentLength=self._filled,
            ),
            self._key,
        )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        await anyio.to_thread.run_sync(self._empty)

    async def _rewound(self) -> IO[bytes]:
        spool = self._spool
        assert spool is not None
        await anyio.to_thread.run_sync(spool.flush)
        spool.seek(0)
        return spool

    def _empty(self) -> None:
        assert self._spool is not None
        self._spool.seek(0)
        self._spool.truncate()
        self._filled = 0

    async def commit(self) -> None:
        if self._done:
            raise StorageError("this write is over")
        client, bucket = self._storage.client, self._storage.bucket
        if self.upload_id is None:
            body = await self._rewound() if self._spool is not None else b""
            await _call(
                client.put_object(
                    Bucket=bucket, Key=self._object_key, Body=body, ContentLength=self._filled
                )
            )
        else:
            if self._filled:
                await self._send()  # the last part may be short
            await _call(
                client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=self._object_key,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
            )
        self._finish()

    async def abort(self) -> None:
        if self._done:
            return
        self._finish()
        if self.upload_id is not None:
            await _abort(self._storage, self._object_key, self.upload_id)

    def _finish(self) -> None:
        self._done = True
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._storage.writers.discard(self)
