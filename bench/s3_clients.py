"""Which S3 client the s3 storage backend uses: obstore (Rust object_store bindings) against
aiobotocore, side by side against the same S3 server (moto's server mode on 127.0.0.1).

Each case runs three times per client, alternating; the table shows the median wall time and the
CPU seconds our process spent (the server's are not ours to save). Uploads stream 1 MiB
writes, as the upload pipeline does; downloads stream and drop the bytes.

    uv run python bench/s3_clients.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import boto3
import obstore
from _live import free_port
from aiobotocore.session import get_session
from obstore.store import S3Store

MiB = 1024 * 1024
LARGE = 100 * MiB
WRITE = 1 * MiB  # what the upload pipeline hands the storage at a time
SMALL, SMALL_COUNT, SMALL_CONCURRENCY = 10 * 1024, 1000, 16
BUCKET = "bench"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
REGION = "us-east-1"


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client(
            "s3",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait()


def app_on(endpoint: str) -> dict[str, str]:
    """The settings that put FileWallBall's blobs in the bench bucket."""
    return {
        "FWB_STORAGE": "s3",
        "FWB_S3_BUCKET": BUCKET,
        "FWB_S3_ENDPOINT_URL": endpoint,
        "FWB_S3_REGION": REGION,
        **CREDENTIALS,
    }


async def writes(total: int) -> AsyncIterator[bytes]:
    block = os.urandom(WRITE)
    for _ in range(total // WRITE):
        yield block


class Obstore:
    name = "obstore"

    def __init__(self, url: str, part_size: int) -> None:
        self.part_size = part_size
        self.store = S3Store(
            BUCKET,
            endpoint=url,
            region=REGION,
            access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            client_options={"allow_http": True},
        )

    async def upload(self, key: str) -> None:
        await obstore.put_async(
            self.store, key, writes(LARGE), chunk_size=self.part_size, max_concurrency=4
        )

    async def download(self, key: str) -> int:
        result = await obstore.get_async(self.store, key)
        return sum([len(chunk) async for chunk in result.stream(min_chunk_size=WRITE)])

    async def put_small(self, key: str, data: bytes) -> None:
        await obstore.put_async(self.store, key, data)

    async def get_small(self, key: str) -> int:
        result = await obstore.get_async(self.store, key)
        return len(await result.bytes_async())

    async def close(self) -> None:
        return None


class Aiobotocore:
    name = "aiobotocore"

    def __init__(self, url: str, part_size: int) -> None:
        self.part_size = part_size
        self.url = url
        self.stack = contextlib.AsyncExitStack()
        self.client: Any = None

    async def open(self) -> None:
        session = get_session()
        self.client = await self.stack.enter_async_context(
            session.create_client("s3", endpoint_url=self.url, region_name=REGION)
        )

    async def upload(self, key: str) -> None:
        started = await self.client.create_multipart_upload(Bucket=BUCKET, Key=key)
        upload_id, buffer = started["UploadId"], bytearray()
        parts: list[dict[str, Any]] = []

        async def send() -> None:
            answer = await self.client.upload_part(
                Bucket=BUCKET,
                Key=key,
                UploadId=upload_id,
                PartNumber=len(parts) + 1,
                Body=bytes(buffer),
            )
            parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
            buffer.clear()

        async for block in writes(LARGE):
            buffer += block
            if len(buffer) >= self.part_size:
                await send()
        if buffer:
            await send()
        await self.client.complete_multipart_upload(
            Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    async def download(self, key: str) -> int:
        answer = await self.client.get_object(Bucket=BUCKET, Key=key)
        async with answer["Body"] as body:
            return sum([len(chunk) async for chunk in body.iter_chunks(WRITE)])

    async def put_small(self, key: str, data: bytes) -> None:
        await self.client.put_object(Bucket=BUCKET, Key=key, Body=data)

    async def get_small(self, key: str) -> int:
        answer = await self.client.get_object(Bucket=BUCKET, Key=key)
        async with answer["Body"] as body:
            return len(await body.read())

    async def close(self) -> None:
        await self.stack.aclose()


async def measured(run: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    await run()
    return time.perf_counter() - wall, time.process_time() - cpu


async def small_objects(client: Obstore | Aiobotocore, run: int) -> None:
    data = os.urandom(SMALL)
    limit = asyncio.Semaphore(SMALL_CONCURRENCY)

    async def one(i: int) -> None:
        async with limit:
            await client.put_small(f"small/{run}/{i}", data)
            assert await client.get_small(f"small/{run}/{i}") == SMALL

    await asyncio.gather(*(one(i) for i in range(SMALL_COUNT)))


async def main() -> None:
    os.environ.update(CREDENTIALS)
    part_sizes = [8 * MiB, 16 * MiB]
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with moto_server() as url:
        for part_size in part_sizes:
            clients: list[Obstore | Aiobotocore] = [
                Obstore(url, part_size),
                Aiobotocore(url, part_size),
            ]
            for client in clients:
                if isinstance(client, Aiobotocore):
                    await client.open()
            for run in range(3):
                for client in clients:
                    label = f"{client.name}, {part_size // MiB} MiB parts"
                    key = f"large/{client.name}/{run}"
                    cases = {
                        "100 MiB upload": lambda c=client, k=key: c.upload(k),
                        "100 MiB download": lambda c=client, k=key: c.download(k),
                    }
                    if part_size == part_sizes[0]:
                        cases["1000 x 10 KB put+get"] = lambda c=client, r=run: small_objects(c, r)
                    for case, go in cases.items():
                        results.setdefault((case, label), []).append(await measured(go))
            for client in clients:
                await client.close()
    print("| case | client | wall s (median, min-max of 3) | our CPU s |")
    print("| --- | --- | --- | --- |")
    for (case, label), runs in sorted(results.items()):
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        print(
            f"| {case} | {label} | {statistics.median(walls):.2f} ({min(walls):.2f}-"
            f"{max(walls):.2f}) | {statistics.median(cpus):.2f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
