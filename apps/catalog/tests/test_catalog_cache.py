from __future__ import annotations

import socket

import httpx
import pytest
from redis.asyncio import Redis

from .conftest import ADMIN, CatalogFactory, assert_problem, create, stock_of


@pytest.fixture(params=["memory", "redis"])
def cache_redis_url(request: pytest.FixtureRequest) -> str | None:
    """No REDIS_URL (reads cached in process) and, in a second run, a real Redis."""
    return str(request.getfixturevalue("redis_url")) if request.param == "redis" else None


@pytest.fixture
async def cached_catalog(
    make_catalog: CatalogFactory, sqlite_url: str, cache_redis_url: str | None
) -> httpx.AsyncClient:
    client: httpx.AsyncClient = await make_catalog(sqlite_url, redis_url=cache_redis_url)
    assert client.app.state.context.cache.backend == ("redis" if cache_redis_url else "memory")  # type: ignore[attr-defined]
    return client


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


async def test_a_deleted_product_is_not_served_from_the_cache(cached_catalog: httpx.AsyncClient) -> None:
    await create(cached_catalog, "MUG-001")
    assert (await cached_catalog.get("/products/MUG-001")).status_code == 200  # now cached
    assert (await cached_catalog.get("/products")).json()["total"] == 1

    assert (await cached_catalog.delete("/products/MUG-001", headers=ADMIN)).status_code == 204
    assert_problem(await cached_catalog.get("/products/MUG-001"), 404)
    assert (await cached_catalog.get("/products")).json()["total"] == 0


async def test_released_stock_is_not_hidden_by_the_cache(cached_catalog: httpx.AsyncClient) -> None:
    await create(cached_catalog, "MUG-001", stock=5)
    reserved = await cached_catalog.post(
        "/reservations", json={"order_id": "o-1", "items": [{"sku": "MUG-001", "quantity": 2}]}
    )
    assert reserved.status_code == 201
    assert await stock_of(cached_catalog, "MUG-001") == 3  # now cached
    assert (await cached_catalog.get("/products")).json()["items"][0]["stock"] == 3

    assert (await cached_catalog.post("/reservations/o-1/release")).status_code == 200
    assert await stock_of(cached_catalog, "MUG-001") == 5
    assert (await cached_catalog.get("/products")).json()["items"][0]["stock"] == 5
