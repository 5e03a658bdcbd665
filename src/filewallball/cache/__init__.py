"""Metadata caches behind one small protocol."""

from __future__ import annotations

from filewallball.cache.base import Cache, CacheUnavailable
from filewallball.cache.memory import MemoryCache
from filewallball.cache.redis import RedisCache
from filewallball.settings import Settings

__all__ = ["Cache", "CacheUnavailable", "create_cache"]


def create_cache(settings: Settings) -> Cache:
    if settings.redis_url:
        return RedisCache(settings.redis_url, ttl=settings.cache_ttl)
    return MemoryCache(ttl=settings.cache_ttl)
