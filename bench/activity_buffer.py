"""Where should the activity writer's buffer live? In the process's memory (a crash loses
what it holds, at most about one interval while the database is up), or in a Redis stream
(a crash loses nothing, but every view and download pays a round trip before its answer).

Measures what each costs one request, inside the worker: the time a request spends handing
its event over, with 64 requests at once on one event loop as under `wrk -c64`. Needs a Redis
to write to: FWB_BENCH_REDIS_URL (a stream named fwb-bench-activity is created and deleted).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

from redis.asyncio import Redis

EVENTS = 20_000
CONCURRENCY = 64
STREAM = "fwb-bench-activity"
EVENT = {
    "file_id": "12345",
    "kind": "download",
    "ip": "203.0.113.7",
    "user_agent": "curl/8.5.0",
    "status": "200",
    "bytes": "10240",
}


async def per_event_us(hand_over: object) -> float:
    """Microseconds per event when CONCURRENCY tasks hand over EVENTS events between them."""
    assert callable(hand_over)
    each = EVENTS // CONCURRENCY

    async def task() -> None:
        for _ in range(each):
            await hand_over()

    started = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(CONCURRENCY)))
    return (time.perf_counter() - started) / (each * CONCURRENCY) * 1e6


async def main() -> None:
    url = os.environ.get("FWB_BENCH_REDIS_URL")
    if not url:
        print("skipped: set FWB_BENCH_REDIS_URL to a Redis this may write a stream to")
        return
    pending: list[dict[str, str]] = []
    redis = Redis.from_url(url)

    async def in_memory() -> None:
        pending.append(EVENT)

    async def in_stream() -> None:
        await redis.xadd(STREAM, EVENT, maxlen=100_000, approximate=True)

    try:
        memory = statistics.median([await per_event_us(in_memory) for _ in range(3)])
        stream = statistics.median([await per_event_us(in_stream) for _ in range(3)])
    finally:
        await redis.delete(STREAM)
        await redis.aclose()
    print(f"in memory:    {memory:8.1f} µs per event")
    print(f"Redis stream: {stream:8.1f} µs per event (XADD, {CONCURRENCY} at once)")


if __name__ == "__main__":
    asyncio.run(main())
