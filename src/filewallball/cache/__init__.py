"""Metadata caches behind one small protocol."""

from __future__ import annotations

from filewallball.cache.base import Cache, CacheUnavailable
from filewallball.cache.memory import MemoryCache
from filewallball.cache.passthrough import PassThroughCache
from filewallball.cache.redis import RedisCache
from filewallball.settings import Settings

__all__ = ["Cache", "CacheUnavailable", "create_cache"]


def create_cache(settings: Settings) -> Cache:
    """Redis when configured; else a private in-process cache, unless that is turned off."""
    if settings.redis_url:
        return RedisCache(settings.redis_url, ttl=settings.cache_ttl)
    if not settings.memory_cache:
        return PassThroughCache()
    return MemoryCache(ttl=settings.cache_ttl)
