"""catalog on a Redis cache that dies while it serves: reads stay 200 and /readyz stays 200 (the
cache is optional: an outage costs speed, never answers)."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from shopfloor.local.processes import ManagedProcess
from shopfloor_common.localserver import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


async def wait_for_redis(url: str, process: ManagedProcess, within: float = 10) -> None:
    client = Redis.from_url(url, socket_connect_timeout=0.5)
    started = time.monotonic()
    try:
        while True:
            assert process.returncode is None, f"redis-server exited:\n{process.tail_text()}"
            try:
                await client.ping()
                return
            except (OSError, RedisConnectionError):
                pass  # not listening yet
            assert time.monotonic() - started < within, "redis-server did not answer PING"
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def test_reads_and_readiness_survive_a_redis_outage(start_service, redis_server_path, tmp_path) -> None:
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis = ManagedProcess(
        "redis",
        [redis_server_path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
    )
    await redis.start()
    try:
        await wait_for_redis(redis_url, redis)
        catalog = await start_service("catalog", env={"REDIS_URL": redis_url})
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for _ in range(2):  # the second read is served from Redis
                async with session.get(f"{catalog.url}/products/MUG-001") as response:
                    assert response.status == 200
            client = Redis.from_url(redis_url)
            try:
                assert await client.dbsize() > 0, "catalog did not cache in Redis"
            finally:
                await client.aclose()

            redis.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(redis.wait(), 5) != 0

            for path in ("/products/MUG-001", "/products/KETTLE-01", "/products?category=kitchen", "/readyz"):
                for _ in range(3):
                    started = time.monotonic()
                    async with session.get(f"{catalog.url}{path}") as response:
                        assert response.status == 200, f"{path}: {response.status} {await response.text()}"
                    took = time.monotonic() - started
                    assert took < 2.0, f"{path} took {took:.2f}s with Redis down"
    finally:
        await redis.stop(timeout_seconds=5)
