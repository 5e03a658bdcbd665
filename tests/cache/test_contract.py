"""One contract for every cache backend: the in-process one and the real Redis."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from filewallball.cache import Cache, CacheUnavailable, create_cache
from filewallball.cache.memory import MemoryCache
from filewallball.cache.redis import RedisCache
from filewallball.settings import Settings

pytestmark = pytest.mark.anyio
REDIS_URL = os.environ.get("FWB_TEST_REDIS_URL")


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        backend: Cache = MemoryCache(ttl=1)
    else:
        if not REDIS_URL:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail("CI must test the Redis cache: FWB_TEST_REDIS_URL is not set")
            pytest.skip("FWB_TEST_REDIS_URL is not set")
        backend = RedisCache(REDIS_URL, ttl=1)
    yield backend
    await backend.delete("k")
    await backend.close()


async def test_set_get_delete(cache: Cache) -> None:
    assert await cache.get("k") is None
    await cache.set("k", b"value")
    assert await cache.get("k") == b"value"
    await cache.delete("k")
    assert await cache.get("k") is None
    await cache.ping()


async def test_add_keeps_what_is_there(cache: Cache) -> None:
    await cache.add("k", b"first")
    await cache.add("k", b"second")
    assert await cache.get("k") == b"first"


async def test_replace_swaps_only_the_expected_value(cache: Cache) -> None:
    await cache.replace("k", b"mark", b"value")
    assert await cache.get("k") is None  # nothing was there to swap
    await cache.set("k", b"mark")
    await cache.replace("k", b"other mark", b"value")
    assert await cache.get("k") == b"mark"
    await cache.replace("k", b"mark", b"value")
    assert await cache.get("k") == b"value"


async def test_a_replaced_value_expires_after_the_ttl(cache: Cache) -> None:
    await cache.set("k", b"mark", ttl=60)
    await cache.replace("k", b"mark", b"value")
    await asyncio.sleep(1.2)
    assert await cache.get("k") is None


async def test_entries_expire_after_the_ttl(cache: Cache) -> None:
    await cache.set("k", b"value")
    await asyncio.sleep(1.2)
    assert await cache.get("k") is None


async def test_unreachable_redis_raises_cache_unavailable() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0", ttl=5)
    operations = (
        cache.get("k"),
        cache.set("k", b"v"),
        cache.replace("k", b"v", b"w"),
        cache.delete("k"),
        cache.ping(),
    )
    for operation in operations:
        with pytest.raises(CacheUnavailable):
            await operation
    await cache.close()


async def test_without_memory_cache_nothing_is_kept() -> None:
    cache = create_cache(Settings(redis_url=None, memory_cache=False))
    assert cache.name == "none"
    await cache.set("k", b"value")
    await cache.add("k", b"value")
    await cache.replace("k", b"value", b"other")
    assert await cache.get("k") is None


def test_memory_cache_is_the_single_process_default() -> None:
    assert create_cache(Settings(redis_url=None)).name == "memory"
