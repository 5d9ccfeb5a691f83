from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import event, text

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


# --- a cache that survives sales (catalog/read_cache.py) ------------------------------------------


def product_selects(client: httpx.AsyncClient) -> list[str]:
    """Every SELECT on the products table the app sends from now on (SQLAlchemy's cursor event)."""
    engine = client.app.state.context.products.sessions.kw["bind"]  # type: ignore[attr-defined]
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "products" in statement:
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen


def reads(kind: str, result: str) -> float:
    return REGISTRY.get_sample_value("catalog_product_reads_total", {"kind": kind, "result": result}) or 0.0


async def test_a_reservation_leaves_other_products_cached(cached_catalog: httpx.AsyncClient) -> None:
    """Old behaviour: every reservation bumped the generation, so reading B after a sale of A
    went to the database."""
    await create(cached_catalog, "MUG-001", stock=5)
    await create(cached_catalog, "MUG-002", stock=7)
    for sku in ("MUG-001", "MUG-002"):
        await cached_catalog.get(f"/products/{sku}")  # now cached
    await cached_catalog.get("/products")
    selects = product_selects(cached_catalog)
    hits_before = reads("item", "hit")

    reserved = await cached_catalog.post(
        "/reservations", json={"order_id": "o-1", "items": [{"sku": "MUG-001", "quantity": 2}]}
    )
    assert reserved.status_code == 201
    selects.clear()  # the reservation's own statements

    assert await stock_of(cached_catalog, "MUG-002") == 7
    assert await stock_of(cached_catalog, "MUG-001") == 3  # the sold product's new stock, from the cache too
    page = (await cached_catalog.get("/products")).json()
    assert {item["sku"]: item["stock"] for item in page["items"]} == {"MUG-001": 3, "MUG-002": 7}
    assert selects == []
    assert reads("item", "hit") - hits_before == 2


async def test_product_reads_count_hits_and_misses(cached_catalog: httpx.AsyncClient) -> None:
    await create(cached_catalog, "MUG-001")
    before = {result: reads("item", result) for result in ("hit", "miss")}

    await cached_catalog.get("/products/MUG-001")
    await cached_catalog.get("/products/MUG-001")
    await cached_catalog.get("/products/MUG-001")

    assert reads("item", "miss") - before["miss"] == 1
    assert reads("item", "hit") - before["hit"] == 2
    exposed = (await cached_catalog.get("/metrics")).text
    assert 'catalog_product_reads_total{kind="item",result="hit"}' in exposed


async def test_price_and_stock_changes_by_an_admin_are_seen_at_once(cached_catalog: httpx.AsyncClient) -> None:
    await create(cached_catalog, "MUG-001", price_cents=1000, stock=5)
    assert (await cached_catalog.get("/products/MUG-001")).json()["price_cents"] == 1000  # now cached
    assert (await cached_catalog.get("/products")).json()["items"][0]["price_cents"] == 1000

    patched = await cached_catalog.patch("/products/MUG-001", json={"price_cents": 1999, "stock": 9}, headers=ADMIN)
    assert patched.status_code == 200

    item = (await cached_catalog.get("/products/MUG-001")).json()
    listed = (await cached_catalog.get("/products")).json()["items"][0]
    assert (item["price_cents"], item["stock"]) == (1999, 9)
    assert (listed["price_cents"], listed["stock"]) == (1999, 9)


@pytest.mark.parametrize("path", ["/products/MUG-001", "/products"])
async def test_stock_is_never_older_than_the_stated_bound(
    make_catalog: CatalogFactory, sqlite_url: str, redis_url: str, path: str
) -> None:
    """A stock change the cache was not told about (a write whose cache update was lost) is
    served at most CACHE_STOCK_TTL_SECONDS after it happened. Old behaviour: the whole cached
    product lived CACHE_TTL_SECONDS (30 s)."""
    bound = 0.6
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url, redis_url=redis_url, cache_stock_ttl_seconds=bound)
    await create(catalog, "MUG-001", stock=5)

    def stock(body: dict[str, object]) -> object:
        return body["stock"] if "stock" in body else body["items"][0]["stock"]  # type: ignore[index]

    assert stock((await catalog.get(path)).json()) == 5  # now cached
    engine = catalog.app.state.context.products.sessions.kw["bind"]  # type: ignore[attr-defined]
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE products SET stock = 1 WHERE sku = 'MUG-001'"))
    changed_at = time.monotonic()

    seen: list[tuple[float, object]] = []
    while time.monotonic() < changed_at + 3 * bound:
        asked_at = time.monotonic()
        seen.append((asked_at - changed_at, stock((await catalog.get(path)).json())))
        await asyncio.sleep(0.02)

    stale = [age for age, value in seen if value == 5]
    assert all(age < bound for age in stale), stale
    assert seen[-1][1] == 1


async def test_concurrent_reads_that_miss_share_one_database_read(cached_catalog: httpx.AsyncClient) -> None:
    """Single flight (read_cache.py): a burst after a start or an admin write asks the database
    once per key, not once per reader."""
    await create(cached_catalog, "MUG-001", stock=5)
    await create(cached_catalog, "MUG-002", stock=7)
    lookup = "/products?skus=MUG-001,MUG-002&limit=100"
    selects = product_selects(cached_catalog)
    one = [await cached_catalog.get(lookup), await cached_catalog.get("/products/MUG-001")]
    statements_of_one_cold_read_each = len(selects)
    assert statements_of_one_cold_read_each >= 2

    # An admin write bumps the generation: every body is cold again.
    assert (await cached_catalog.patch("/products/MUG-002", json={"name": "Big mug"}, headers=ADMIN)).is_success
    selects.clear()
    burst = await asyncio.gather(
        *(cached_catalog.get(lookup) for _ in range(40)), *(cached_catalog.get("/products/MUG-001") for _ in range(40))
    )

    assert {response.status_code for response in burst} == {200}
    assert len({response.content for response in burst[:40]}) == 1
    assert {response.content for response in burst[40:]} == {one[1].content}
    assert "Big mug" in burst[0].text
    # One read per key; a reader whose miss came just as a read landed may start one more (with
    # Redis, whose calls yield, it happens now and then). Without single flight: 40 per key.
    assert len(selects) < 4 * statements_of_one_cold_read_each, selects
