"""The TCP fault proxy with real PostgreSQL (asyncpg) and Redis behind it, in every mode."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shopfloor.chaos.loopback import NotLoopback
from shopfloor.chaos.proxy import DependencyProxies, FaultProxy, ProxyError
from shopfloor.local.stack import StackOptions

REPO = Path(__file__).resolve().parents[3]
# What a broken PostgreSQL connection raises, depending on the moment it broke.
CONNECTION_BROKEN = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


def dsn_through(postgres_url: str, proxy: FaultProxy) -> str:
    parts = urlsplit(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    return parts._replace(netloc=f"{parts.username}@{proxy.address}").geturl()


@pytest.fixture
async def pg_proxy(postgres_url: str) -> AsyncIterator[tuple[FaultProxy, str]]:
    parts = urlsplit(postgres_url)
    async with FaultProxy(parts.hostname or "", parts.port or 5432, name="pg") as proxy:
        yield proxy, dsn_through(postgres_url, proxy)


async def round_trips(connection: Any, count: int = 5) -> float:
    """The median time of a trivial query, in seconds."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        assert await connection.fetchval("SELECT 1") == 1
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@pytest.mark.parametrize("host", ["10.0.0.5", "192.168.1.1", "0.0.0.0", "::1", "db.example.com", "", "128.0.0.1"])
def test_an_upstream_outside_loopback_is_refused(host: str) -> None:
    with pytest.raises(NotLoopback, match=r"127\.0\.0\.0/8"):
        FaultProxy(host, 5432)


def test_loopback_upstreams_and_modes_are_checked() -> None:
    assert FaultProxy("127.0.0.1", 5432).upstream_host == "127.0.0.1"
    assert FaultProxy("localhost", 5432).upstream_host == "127.0.0.1"
    assert FaultProxy("127.3.2.1", 5432).upstream_host == "127.3.2.1"
    proxy = FaultProxy("127.0.0.1", 5432)
    with pytest.raises(ProxyError, match="no proxy mode 'drop'"):
        proxy.set_mode("drop")
    with pytest.raises(ProxyError, match="latency_ms"):
        proxy.set_mode("latency")


async def test_postgres_latency_adds_to_every_round_trip(pg_proxy: tuple[FaultProxy, str]) -> None:
    proxy, dsn = pg_proxy
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        direct = await round_trips(connection)
        proxy.set_mode("latency", latency_ms=100)
        slowed = await round_trips(connection)
        proxy.set_mode("pass")
        again = await round_trips(connection)
    finally:
        await connection.close()

    print(f"SELECT 1 median: pass {direct * 1000:.1f} ms, latency 100 ms {slowed * 1000:.1f} ms")
    assert 0.095 <= slowed - direct < 0.2, (direct, slowed)
    assert again < 0.05


async def test_postgres_blackhole_times_out_without_refusing_and_heals(pg_proxy: tuple[FaultProxy, str]) -> None:
    proxy, dsn = pg_proxy
    held = await asyncpg.connect(dsn, timeout=5)
    try:
        proxy.set_mode("blackhole")
        query = asyncio.create_task(held.fetchval("SELECT 7"))
        # A new connection is accepted, then hears nothing: a timeout, never a refusal.
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await asyncpg.connect(dsn, timeout=0.5)
        assert 0.45 <= time.perf_counter() - started < 2
        await asyncio.sleep(0.2)
        assert not query.done()

        proxy.set_mode("pass")  # the partition heals: the held query's bytes flow again
        assert await asyncio.wait_for(query, 5) == 7
        assert await held.fetchval("SELECT 8") == 8
    finally:
        await held.close()


async def test_postgres_reset_breaks_open_and_new_connections(pg_proxy: tuple[FaultProxy, str]) -> None:
    proxy, dsn = pg_proxy
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        proxy.set_mode("reset")
        with pytest.raises(CONNECTION_BROKEN):
            await asyncio.wait_for(connection.fetchval("SELECT 1"), 5)
        started = time.perf_counter()
        with pytest.raises(ConnectionResetError):
            await asyncpg.connect(dsn, timeout=5)
        assert time.perf_counter() - started < 1  # at once, not a timeout
    finally:
        connection.terminate()
    assert proxy.stats.reset >= 2

    proxy.set_mode("pass")
    fresh = await asyncpg.connect(dsn, timeout=5)
    assert await fresh.fetchval("SELECT 1") == 1
    await fresh.close()


async def test_connections_over_the_limit_are_reset(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    async with FaultProxy(parts.hostname or "", parts.port or 5432, max_connections=2) as proxy:
        dsn = dsn_through(postgres_url, proxy)
        first, second = await asyncpg.connect(dsn, timeout=5), await asyncpg.connect(dsn, timeout=5)
        try:
            with pytest.raises(ConnectionResetError):
                await asyncpg.connect(dsn, timeout=5)
            assert proxy.stats.over_limit == 1
            assert proxy.open_connections == 2
        finally:
            await first.close()
            await second.close()


async def test_redis_through_the_proxy_in_every_mode(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    async with FaultProxy(parts.hostname or "", parts.port or 6379, name="redis") as proxy:
        client = Redis.from_url(
            parts._replace(netloc=proxy.address).geturl(), socket_timeout=0.5, socket_connect_timeout=0.5
        )
        try:
            assert await client.ping()
            proxy.set_mode("latency", latency_ms=80)
            started = time.perf_counter()
            assert await client.set("chaos", "1")
            assert time.perf_counter() - started >= 0.08

            proxy.set_mode("blackhole")
            with pytest.raises(RedisTimeoutError):
                await client.get("chaos")

            proxy.set_mode("reset")
            with pytest.raises(RedisConnectionError):
                await client.get("chaos")

            proxy.set_mode("pass")
            assert await client.get("chaos") == b"1"  # the client reconnects once the link is back
        finally:
            await client.aclose()


async def test_dependency_proxies_rewire_the_stack_options(tmp_path: Path) -> None:
    options = StackOptions(
        repo=REPO,
        state_dir=tmp_path,
        free_ports=True,
        postgres_url="postgresql://postgres@127.0.0.1:5432/postgres",
        redis_url="redis://127.0.0.1:6379/11",
        service_env={"orders": {"LOG_LEVEL": "DEBUG"}},
    )
    async with DependencyProxies() as proxies:
        wired = await proxies.prepare(options)

        catalog = proxies.get("catalog")
        assert catalog.upstream_port == wired.port_overrides["catalog"]
        assert wired.service_env["orders"] == {"LOG_LEVEL": "DEBUG", "CATALOG_URL": f"http://{catalog.address}"}
        assert wired.service_env["api-gateway"]["CATALOG_URL"] == f"http://{catalog.address}"
        assert "catalog" not in wired.service_env
        assert wired.redis_url == f"redis://{proxies.get('redis').address}/11"
        assert wired.postgres_via == {
            "catalog": proxies.get("postgres", "catalog").address,
            "orders": proxies.get("postgres", "orders").address,
        }
        assert proxies.get("postgres", "catalog").upstream_port == 5432
        with pytest.raises(ProxyError, match="no fault proxy in front of postgres of frontend"):
            proxies.get("postgres", "frontend")
    assert proxies.proxies == {}

    with pytest.raises(NotLoopback, match="Redis"):
        await DependencyProxies().prepare(StackOptions(repo=REPO, state_dir=tmp_path, redis_url="redis://10.1.1.1/0"))
