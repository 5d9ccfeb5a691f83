"""A read cache that is never the reason a request fails.

Redis (redis.asyncio) when REDIS_URL is set, an in-process TTL cache otherwise. When Redis is
down every operation is a miss (or a no-op) and one warning is logged per outage; after an error
Redis is left alone for a short back-off so an outage costs one timeout, not one per request.
When Redis refuses the configuration (AUTH password, TLS trust) the cache degrades the same way,
but as an error that stays visible (redis_connection: log, metric, /readyz "degraded").

Invalidation is by generation: a namespace's keys embed a counter that a write bumps, so a write
invalidates every cached list and item of that namespace in one step. If Redis is unreachable
during a write the bump is lost and readers may see entries up to CACHE_TTL_SECONDS old once it
returns: staleness is bounded by the TTL.

A value may carry its own, shorter lifetime (`set(..., ttl_seconds=...)`): catalog keeps each
product's stock under its own short-lived key that way, so a sale rewrites one key instead of
bumping the generation of every product (catalog/read_cache.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, cast

from prometheus_client import Counter

from shopfloor_common.extras import missing_extra
from shopfloor_common.settings import CacheSettings

try:
    from cachetools import TTLCache
    from redis.asyncio import Redis

    from shopfloor_common.redis_connection import RedisFailure, RedisHealth, create_pool
except ModuleNotFoundError as exc:
    raise missing_extra(__name__, "cache", exc) from exc

log = logging.getLogger("shopfloor.cache")

CACHE_REQUESTS = Counter("cache_requests_total", "Cache lookups by result.", ["backend", "result"])
CACHE_ERRORS = Counter("cache_errors_total", "Cache operations that failed and were degraded.", ["backend"])


class Cache(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...
    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...
    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None: ...
    async def set_many(self, values: Mapping[str, bytes], ttl_seconds: float | None = None) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def generation(self, namespace: str) -> int: ...
    async def bump(self, namespace: str) -> None: ...
    async def ping(self) -> None: ...
    async def misconfiguration(self) -> str | None: ...
    async def close(self) -> None: ...


class MemoryCache:
    backend = "memory"

    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        # Each entry carries its own deadline (monotonic) for values set with a shorter lifetime;
        # the TTLCache's own TTL is the longest any entry lives.
        self._entries: TTLCache[str, tuple[float, bytes]] = TTLCache(maxsize=max_entries, ttl=ttl_seconds)
        self._ttl_seconds = ttl_seconds
        self._generations: dict[str, int] = {}

    def _lookup(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        value = entry[1] if entry is not None and entry[0] > time.monotonic() else None
        CACHE_REQUESTS.labels(self.backend, "hit" if value is not None else "miss").inc()
        return value

    async def get(self, key: str) -> bytes | None:
        return self._lookup(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self._lookup(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        ttl = self._ttl_seconds if ttl_seconds is None else min(ttl_seconds, self._ttl_seconds)
        if ttl > 0:
            self._entries[key] = (time.monotonic() + ttl, value)

    async def set_many(self, values: Mapping[str, bytes], ttl_seconds: float | None = None) -> None:
        for key, value in values.items():
            await self.set(key, value, ttl_seconds)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)

    async def generation(self, namespace: str) -> int:
        return self._generations.get(namespace, 0)

    async def bump(self, namespace: str) -> None:
        self._generations[namespace] = self._generations.get(namespace, 0) + 1

    async def ping(self) -> None:
        return None

    async def misconfiguration(self) -> str | None:
        return None

    async def close(self) -> None:
        self._entries.clear()


class RedisCache:
    backend = "redis"

    def __init__(
        self,
        url: str,
        ttl_seconds: float,
        timeout_seconds: float,
        backoff_seconds: float = 2.0,
        *,
        password: str | None = None,
        ca_file: Path | None = None,
    ) -> None:
        pool = create_pool(
            url, password=password, ca_file=ca_file, timeout_seconds=timeout_seconds, health_check_interval=30
        )
        self._redis = Redis.from_pool(pool)  # the client owns the pool: aclose() closes both
        self.health = RedisHealth("cache", log)
        self._ttl_ms = int(ttl_seconds * 1000)
        self._backoff_seconds = backoff_seconds
        self._skip_until = 0.0
        self._in_outage = False

    def _available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, operation: str, exc: Exception) -> None:
        """Every cache operation catches Exception, not only RedisError and OSError: a connection
        reset under uvloop surfaces from redis-py as RuntimeError ("unable to perform operation on
        <TCPTransport closed=True>"), and an optional cache must cost speed, never a 500."""
        CACHE_ERRORS.labels(self.backend).inc()
        self._skip_until = time.monotonic() + self._backoff_seconds
        reason = self.health.failed(exc)  # a refused configuration is logged there, as an error
        if not self._in_outage:
            self._in_outage = True
            if reason is RedisFailure.UNAVAILABLE:
                log.warning("redis unavailable during %s, serving without cache: %s", operation, exc)

    def _succeeded(self) -> None:
        self.health.succeeded()
        if self._in_outage:
            self._in_outage = False
            log.warning("redis reachable again, cache resumed")

    async def get(self, key: str) -> bytes | None:
        if not self._available():
            CACHE_REQUESTS.labels(self.backend, "skipped").inc()
            return None
        try:
            value = cast(bytes | None, await self._redis.get(key))
        except Exception as exc:  # see _failed: any failure of Redis degrades to no cache
            self._failed("get", exc)
            return None
        self._succeeded()
        CACHE_REQUESTS.labels(self.backend, "hit" if value is not None else "miss").inc()
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not self._available():
            CACHE_REQUESTS.labels(self.backend, "skipped").inc(len(keys))
            return [None] * len(keys)
        try:
            values = cast(list[bytes | None], await self._redis.mget(list(keys)))
        except Exception as exc:  # see _failed: any failure of Redis degrades to no cache
            self._failed("get", exc)
            return [None] * len(keys)
        self._succeeded()
        hits = sum(value is not None for value in values)
        CACHE_REQUESTS.labels(self.backend, "hit").inc(hits)
        CACHE_REQUESTS.labels(self.backend, "miss").inc(len(values) - hits)
        return values

    def _px(self, ttl_seconds: float | None) -> int:
        return self._ttl_ms if ttl_seconds is None else min(self._ttl_ms, int(ttl_seconds * 1000))

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        px = self._px(ttl_seconds)
        if not self._available() or px <= 0:
            return
        try:
            await self._redis.set(key, value, px=px)
        except Exception as exc:  # see _failed: any failure of Redis degrades to no cache
            self._failed("set", exc)

    async def set_many(self, values: Mapping[str, bytes], ttl_seconds: float | None = None) -> None:
        px = self._px(ttl_seconds)
        if not self._available() or px <= 0 or not values:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, value in values.items():
                    pipe.set(key, value, px=px)
                await pipe.execute()
        except Exception as exc:  # see _failed: any failure of Redis degrades to no cache
            self._failed("set", exc)

    async def delete(self, *keys: str) -> None:
        # Tried even during a back-off, like bump: a lost invalidation is worse than one slow write.
        if not keys:
            return
        try:
            await self._redis.delete(*keys)
        except Exception as exc:  # see _failed: any failure of Redis degrades to no cache
            self._failed("invalidate", exc)

    async def generation(self, namespace: str) -> int:
        if not self._available():
            return -1
        try:
            raw = await self._redis.get(f"gen:{namespace}")
        except Exception as exc:  # see _failed: any failure of Redis degrades to no cache
            self._failed("generation", exc)
            return -1
        return int(raw or 0)

    async def bump(self, namespace: str) -> None:
        # Tried even during a back-off: a lost invalidation is worse than one slow write.
        try:
            await self._redis.incr(f"gen:{namespace}")
        except Exception as exc:  # see _failed: any failure of Redis degrades to no cache
            self._failed("invalidate", exc)

    async def ping(self) -> None:
        await self._redis.ping()

    async def misconfiguration(self) -> str | None:
        """Why Redis refuses this cache's configuration, or None (readiness reports it as "degraded")."""
        return await self.health.probe(self._redis)

    async def close(self) -> None:
        await self._redis.aclose()


def create_cache(settings: CacheSettings) -> Cache:
    if settings.redis_url:
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        return RedisCache(
            settings.redis_url,
            settings.cache_ttl_seconds,
            settings.redis_timeout_seconds,
            password=password,
            ca_file=settings.redis_ca_file,
        )
    return MemoryCache(settings.cache_ttl_seconds, settings.cache_max_entries)
