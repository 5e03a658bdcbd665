"""Prometheus metrics. With several worker processes they are summed through
PROMETHEUS_MULTIPROC_DIR, which `filewallball serve` sets before the workers start."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

_SIZE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

UPLOADS = Counter("filewallball_uploads", "Upload attempts by outcome.", ["outcome"])
UPLOAD_BYTES = Counter("filewallball_upload_bytes", "Bytes stored by successful uploads.")
UPLOAD_DURATION = Histogram(
    "filewallball_upload_duration_seconds",
    "Time from the first byte of an upload to its stored metadata.",
    buckets=_SIZE_BUCKETS,
)
DOWNLOADS = Counter("filewallball_downloads", "Downloads by outcome.", ["outcome"])
DOWNLOAD_BYTES = Counter("filewallball_download_bytes", "Bytes sent by downloads.")
HTTP_REQUESTS = Counter(
    "filewallball_http_requests", "HTTP requests by route template.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "filewallball_http_request_duration_seconds",
    "Time to the end of the response, by route template.",
    ["method", "route"],
    buckets=_SIZE_BUCKETS,
)
# Methods named as themselves in the request series; any other, which HTTP lets a client
# invent, is "other": otherwise each invented method would add series without end.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@functools.cache
def _request_series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    # Labelled once per kind of request: labelling both on every request cost a popular
    # file's 2 %. Kinds are few: these methods, the route templates, the statuses we answer.
    return HTTP_REQUESTS.labels(method, route, str(status)), HTTP_LATENCY.labels(method, route)


def count_request(method: str, route: str, status: int, seconds: float) -> None:
    """One request answered: counted by method, route template and status, and timed."""
    counted, timed = _request_series(method if method in _METHODS else "other", route, status)
    counted.inc()
    timed.observe(seconds)


SWEPT = Counter(
    "filewallball_swept_blobs",
    "Upload temporaries and blobs without a row removed by the sweep.",
    ["kind"],
)
ACTIVITY_DROPPED = Counter(
    "filewallball_activity_dropped",
    "Views and downloads not recorded because this process's buffer of unwritten ones was full.",
)
ACTIVITY_BATCHES = Counter(
    "filewallball_activity_batches",
    "Batches of views and downloads written, one transaction each.",
)
ACTIVITY_FLUSH_FAILURES = Counter(
    "filewallball_activity_flush_failures",
    "Batches of views and downloads the database did not take; they are tried again.",
)
CACHE_HITS = Counter("filewallball_cache_hits", "Metadata reads answered by the cache.")
CACHE_MISSES = Counter("filewallball_cache_misses", "Metadata reads that went to the database.")
CACHE_ERRORS = Counter("filewallball_cache_errors", "Cache operations that failed.")


class _Sampled(Collector):
    """Gauges sampled for this scrape (see gauges.py)."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> list[Metric]:
        return self._families


def render(sampled: Sequence[Metric] = ()) -> tuple[bytes, str]:
    """The exposition text for every process of this server, then the `sampled` gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        counters = generate_latest(registry)
    else:
        counters = generate_latest()
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(_Sampled(sampled))
    return counters + generate_latest(gauges), CONTENT_TYPE_LATEST
