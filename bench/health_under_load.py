"""Does /health stay fast while 20 large uploads stream in?

Measures /health latency idle (the reference) and while 20 clients upload 50 MiB each, and
prints the ratio of the medians. Hashing and disk writes run off the event loop, so the
ratio should stay small; a blocked loop shows as a ratio in the hundreds.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
from _live import live_server

UPLOADS = 20
SIZE = 50 * 1024 * 1024
PROBES = 40


async def probe(http: httpx.AsyncClient, url: str) -> list[float]:
    latencies = []
    for _ in range(PROBES):
        started = time.perf_counter()
        response = await http.get(f"{url}/health")
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        await asyncio.sleep(0.05)
    return latencies


async def body():  # type: ignore[no-untyped-def]
    yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
    chunk = b"\x00" * (1024 * 1024)
    for _ in range(SIZE // len(chunk)):
        yield chunk
    yield b"\r\n--b--\r\n"


async def run(url: str) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=UPLOADS + 5)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        idle = statistics.median(await probe(http, url))
        headers = {"content-type": "multipart/form-data; boundary=b"}
        uploads = [
            asyncio.create_task(http.post(f"{url}/upload", content=body(), headers=headers))
            for _ in range(UPLOADS)
        ]
        await asyncio.sleep(0.3)
        loaded = statistics.median(await probe(http, url))
        results = await asyncio.gather(*uploads)
        assert all(r.status_code == 201 for r in results), [r.status_code for r in results]
    return idle, loaded


def main() -> None:
    with live_server() as url:
        idle, loaded = asyncio.run(run(url))
    print(f"/health median: idle {idle:.1f} ms, during {UPLOADS} uploads {loaded:.1f} ms")
    print(f"ratio loaded / idle: x{loaded / idle:.1f}")


if __name__ == "__main__":
    main()
