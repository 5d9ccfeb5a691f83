from __future__ import annotations

import socket

import httpx
from redis.asyncio import Redis

from .conftest import ADMIN, CatalogFactory, create


async def test_reads_are_cached_in_redis_and_invalidated_on_write(
    make_catalog: CatalogFactory, sqlite_url: str, redis_url: str
) -> None:
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url, redis_url=redis_url)
    await create(catalog, "MUG-001", price_cents=1000)
    assert (await catalog.get("/products/MUG-001")).json()["price_cents"] == 1000

    redis = Redis.from_url(redis_url)
    keys = {k.decode() if isinstance(k, bytes) else k for k in await redis.keys("catalog:*")}
    assert any(k.endswith(":product:MUG-001") for k in keys), keys

    await catalog.patch("/products/MUG-001", json={"price_cents": 1234}, headers=ADMIN)
    assert (await catalog.get("/products/MUG-001")).json()["price_cents"] == 1234
    await redis.aclose()


async def test_a_redis_outage_degrades_to_misses_not_errors(make_catalog: CatalogFactory, sqlite_url: str) -> None:
    with socket.socket() as sock:  # a port nobody listens on: Redis "down"
        sock.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url, redis_url=dead)
    await create(catalog, "MUG-001")
    for _ in range(3):
        assert (await catalog.get("/products/MUG-001")).status_code == 200
        assert (await catalog.get("/products")).status_code == 200
    patched = await catalog.patch("/products/MUG-001", json={"stock": 1}, headers=ADMIN)
    assert patched.status_code == 200
    assert (await catalog.get("/readyz")).status_code == 200
