"""The caps on uploads in flight hold across replicas when they share Redis: each gate below is
one replica's. A replica that dies frees its places within a lease; a Redis out of reach makes
each replica count on its own rather than refuse uploads."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from filewallball.access import gate
from filewallball.access.gate import SharedGate
from filewallball.errors import ServiceUnavailable, TooManyRequests
from tests.conftest import Backend

pytestmark = pytest.mark.anyio


@pytest.fixture
async def replicas(clean_backend: Backend) -> AsyncIterator[tuple[SharedGate, SharedGate]]:
    """Two replicas' gates on one Redis: two uploads per client, 100 kB in flight in all."""
    if clean_backend.redis_url is None:
        pytest.skip("replicas share their upload caps through Redis")
    one = SharedGate(clean_backend.redis_url, per_client=2, max_bytes=100_000)
    two = SharedGate(clean_backend.redis_url, per_client=2, max_bytes=100_000)
    yield one, two
    await one.close()
    await two.close()


async def test_a_clients_uploads_count_on_every_replica(
    replicas: tuple[SharedGate, SharedGate],
) -> None:
    one, two = replicas
    async with one.admit("client-a", 10), two.admit("client-a", 10):
        with pytest.raises(TooManyRequests):
            async with one.admit("client-a", 10):
                pass
        async with two.admit("client-b", 10):  # another client is not held back
            pass
    async with two.admit("client-a", 10):  # both finished: places are free again
        pass


async def test_bytes_in_flight_count_on_every_replica(
    replicas: tuple[SharedGate, SharedGate],
) -> None:
    one, two = replicas
    async with one.admit("client-a", 60_000):
        with pytest.raises(ServiceUnavailable):
            async with two.admit("client-b", 60_000):
                pass
        async with two.admit("client-b", 40_000):
            pass
    async with two.admit("client-b", 60_000):
        pass


async def test_a_replica_that_died_frees_its_places_within_a_lease(
    replicas: tuple[SharedGate, SharedGate],
) -> None:
    one, two = replicas
    # What a process killed mid-upload leaves: a place it will never renew nor release.
    lease = 2
    keys = [one._client_key("client-a"), one.BYTES_KEY]
    for _ in range(2):
        await one._admit(keys=keys, args=[uuid.uuid4().hex, 60_000, 5, 10**9, lease])
    with pytest.raises(TooManyRequests):
        async with two.admit("client-a", 10):
            pass

    await asyncio.sleep(lease + 1.1)  # Redis counts lease ends in whole seconds
    async with two.admit("client-a", 60_000):
        pass


async def test_a_running_upload_keeps_its_place_past_its_first_lease(
    replicas: tuple[SharedGate, SharedGate], monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = replicas
    monkeypatch.setattr(gate, "LEASE_SECONDS", 2)
    async with one.admit("client-a", 10), one.admit("client-a", 10):
        await asyncio.sleep(3.5)  # renewed every 2/3 s
        with pytest.raises(TooManyRequests):
            async with two.admit("client-a", 10):
                pass


async def test_without_redis_each_replica_counts_on_its_own_at_once() -> None:
    unreachable = SharedGate("redis://127.0.0.1:1/0", per_client=1, max_bytes=100_000)
    started = time.monotonic()
    async with unreachable.admit("client-a", 10):
        with pytest.raises(TooManyRequests):
            async with unreachable.admit("client-a", 10):
                pass
    await unreachable.close()
    assert time.monotonic() - started < 2  # one connection timeout, then the breaker
