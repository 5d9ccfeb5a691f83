"""MemoryCache, RedisCache on a real Redis, and RedisCache degrading to misses when Redis is gone."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shopfloor_common.cache import MemoryCache, RedisCache, create_cache
from shopfloor_common.settings import CacheSettings


def cache_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "shopfloor.cache" and r.levelno == logging.WARNING]


def skipped_lookups() -> float:
    return REGISTRY.get_sample_value("cache_requests_total", {"backend": "redis", "result": "skipped"}) or 0.0


# --- in-process -----------------------------------------------------------------------------


async def test_memory_cache_get_set() -> None:
    cache = MemoryCache(ttl_seconds=30, max_entries=10)

    assert await cache.get("product:A") is None
    await cache.set("product:A", b'{"sku":"A"}')

    assert await cache.get("product:A") == b'{"sku":"A"}'
    assert await cache.get("product:B") is None


async def test_memory_cache_entries_expire_after_ttl() -> None:
    cache = MemoryCache(ttl_seconds=0.05, max_entries=10)
    await cache.set("k", b"v")
    assert await cache.get("k") == b"v"

    await asyncio.sleep(0.1)  # TTLCache reads the monotonic clock: only real time makes it expire

    assert await cache.get("k") is None


async def test_memory_cache_is_bounded() -> None:
    cache = MemoryCache(ttl_seconds=30, max_entries=2)
    for key in ("a", "b", "c"):
        await cache.set(key, key.encode())

    present = [key for key in ("a", "b", "c") if await cache.get(key) is not None]

    assert len(present) == 2


async def test_memory_cache_generation_bump() -> None:
    cache = MemoryCache(ttl_seconds=30, max_entries=10)

    assert await cache.generation("products") == 0
    await cache.bump("products")
    await cache.bump("products")

    assert await cache.generation("products") == 2
    assert await cache.generation("orders") == 0


async def test_memory_cache_short_lived_values_many_and_delete() -> None:
    cache = MemoryCache(ttl_seconds=30, max_entries=10)
    await cache.set_many({"stock:A": b"1", "stock:B": b"2"}, ttl_seconds=0.05)
    await cache.set("body:A", b"a")

    assert await cache.get_many(["stock:A", "stock:B", "stock:C"]) == [b"1", b"2", None]
    await cache.delete("stock:B")
    assert await cache.get("stock:B") is None
    await asyncio.sleep(0.1)  # the short lifetime, not the cache's 30 s, applies

    assert await cache.get_many(["stock:A", "body:A"]) == [None, b"a"]


def test_create_cache_picks_the_backend() -> None:
    assert isinstance(create_cache(CacheSettings(redis_url=None)), MemoryCache)
    assert isinstance(create_cache(CacheSettings(redis_url="redis://127.0.0.1:6379/15")), RedisCache)


# --- real Redis -----------------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_cache_get_set_with_ttl(redis_url: str, caches: list[RedisCache]) -> None:
    cache = RedisCache(redis_url, ttl_seconds=30, timeout_seconds=1)
    caches.append(cache)

    await cache.ping()
    assert await cache.get("product:A") is None
    await cache.set("product:A", b'{"sku":"A"}')

    assert await cache.get("product:A") == b'{"sku":"A"}'
    raw = Redis.from_url(redis_url)
    try:
        ttl_ms = await raw.pttl("product:A")
    finally:
        await raw.aclose()
    assert 0 < ttl_ms <= 30_000


@pytest.mark.redis
async def test_redis_cache_short_lived_values_many_and_delete(redis_url: str, caches: list[RedisCache]) -> None:
    cache = RedisCache(redis_url, ttl_seconds=30, timeout_seconds=1)
    caches.append(cache)
    await cache.set_many({"stock:A": b"1", "stock:B": b"2"}, ttl_seconds=2)
    await cache.set("stock:C", b"3", ttl_seconds=60)  # never longer than the cache's own TTL

    assert await cache.get_many(["stock:A", "stock:B", "stock:X"]) == [b"1", b"2", None]
    raw = Redis.from_url(redis_url)
    try:
        assert 0 < await raw.pttl("stock:A") <= 2_000
        assert 2_000 < await raw.pttl("stock:C") <= 30_000
    finally:
        await raw.aclose()
    await cache.delete("stock:A", "stock:B")
    assert await cache.get_many(["stock:A", "stock:B", "stock:C"]) == [None, None, b"3"]


@pytest.mark.redis
async def test_redis_cache_generation_bump_is_shared(redis_url: str, caches: list[RedisCache]) -> None:
    # Two replicas of a service: one's write must invalidate the other's cached reads.
    writer = RedisCache(redis_url, ttl_seconds=30, timeout_seconds=1)
    reader = RedisCache(redis_url, ttl_seconds=30, timeout_seconds=1)
    caches.extend([writer, reader])

    assert await reader.generation("products") == 0
    await writer.bump("products")
    await writer.bump("products")

    assert await reader.generation("products") == 2
    assert await reader.generation("orders") == 0


# --- Redis outage ---------------------------------------------------------------------------


async def test_redis_down_degrades_to_misses_with_one_warning(
    unused_tcp_port: int, caches: list[RedisCache], caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache(f"redis://127.0.0.1:{unused_tcp_port}/0", ttl_seconds=30, timeout_seconds=0.5)
    caches.append(cache)
    caplog.set_level(logging.WARNING, logger="shopfloor.cache")

    assert await cache.get("k") is None
    await cache.set("k", b"v")
    await cache.bump("products")
    assert await cache.generation("products") == -1
    assert await cache.get("k") is None
    await cache.bump("products")

    warnings = cache_warnings(caplog)
    assert len(warnings) == 1
    assert "redis unavailable" in warnings[0]
    with pytest.raises(RedisError):
        await cache.ping()  # readiness can still tell that Redis is down


async def test_any_failure_of_the_client_degrades_to_a_miss(
    redis_url: str, caches: list[RedisCache], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen for real (tools/shopfloor/tests/test_chaos_inject.py, Redis connections reset under
    uvloop): redis-py raised RuntimeError("unable to perform operation on <TCPTransport
    closed=True>"), neither RedisError nor OSError, and catalog answered 500."""
    cache = RedisCache(redis_url, ttl_seconds=30, timeout_seconds=0.5, backoff_seconds=0)
    caches.append(cache)
    await cache.set("k", b"v")

    async def transport_closed(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")

    for operation in ("get", "set", "incr"):
        monkeypatch.setattr(cache._redis, operation, transport_closed)
    assert await cache.get("k") is None
    await cache.set("k", b"w")
    assert await cache.generation("products") == -1
    await cache.bump("products")


async def test_redis_back_off_skips_redis_instead_of_waiting_again(caches: list[RedisCache]) -> None:
    # A Redis that accepts connections but never answers (a hung server, a black-holed network):
    # the first lookup pays one timeout, lookups during the back-off pay nothing.
    release = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cache = RedisCache(f"redis://127.0.0.1:{port}/0", ttl_seconds=30, timeout_seconds=0.2, backoff_seconds=5)
        caches.append(cache)

        started = time.monotonic()
        assert await cache.get("k") is None
        first = time.monotonic() - started
        skipped_before = skipped_lookups()

        started = time.monotonic()
        assert await cache.get("k") is None
        await cache.set("k", b"v")
        second = time.monotonic() - started

        assert first >= 0.2
        assert second < 0.05
        assert skipped_lookups() == skipped_before + 1
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def test_redis_is_tried_again_after_the_back_off(unused_tcp_port: int, caches: list[RedisCache]) -> None:
    cache = RedisCache(
        f"redis://127.0.0.1:{unused_tcp_port}/0", ttl_seconds=30, timeout_seconds=0.2, backoff_seconds=0.1
    )
    caches.append(cache)
    errors_before = REGISTRY.get_sample_value("cache_errors_total", {"backend": "redis"}) or 0.0
    await cache.get("k")
    await cache.get("k")  # inside the back-off: skipped, not an error

    await asyncio.sleep(0.15)
    await cache.get("k")

    assert REGISTRY.get_sample_value("cache_errors_total", {"backend": "redis"}) == errors_before + 2
