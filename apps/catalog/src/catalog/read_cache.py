"""Product reads from the cache, with stock kept apart so that a sale does not empty the cache.

A product's body (name, price, image... everything a buyer sees but its stock) is cached under the
catalog namespace's generation, which only admin writes bump (create, update, delete, image): a
price change or a deletion is seen by the next read. A product's stock lives under its own key,
`catalog:stock:<sku>`, that is never older than `CACHE_STOCK_TTL_SECONDS` (the stated bound):

- a reservation or a release writes the new stock of the skus it touched (the value its UPDATE
  ... RETURNING gave), so unrelated products stay cached and the touched ones stay cached too;
- every stock value is stored with a lifetime counted from *before* the statement that read or
  wrote it (`stock_ttl - elapsed`), so whatever the order in which concurrent writers' values land
  in the cache, and whether or not one was lost to a Redis error, a cached stock was the database's
  value at some moment within the last `CACHE_STOCK_TTL_SECONDS`.

Each read is served as the cached body with the cached stock put in. `catalog_product_reads_total`
counts reads by result: `hit` (no database statement), `stock` (body from the cache, stock from the
database), `miss` (body from the database) and `uncached` (the cache is unavailable). The hit
ratio is hit / all.

Concurrent reads that miss the same key share one database read (single flight): a burst on a
cold cache, the first reads after an admin write bumped the generation, or a burst while Redis is
unavailable cost one read per key, not one per reader. Without it, 100 concurrent checkouts' price
lookups after a start asked the database 100 times at once and took as many of its connections
(tested in apps/catalog/tests/test_catalog_cache.py). A reader that joins gets what the read in
flight returns, a value at most one statement's duration older than its own request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import orjson
from prometheus_client import Counter

from shopfloor_common.cache import Cache

CACHE_NAMESPACE = "catalog"
STOCK_PREFIX = f"{CACHE_NAMESPACE}:stock:"

PRODUCT_READS = Counter(
    "catalog_product_reads_total",
    "Product reads (kind item or list) by how the cache served them: hit (no database statement), "
    "stock (stock refreshed from the database), miss (product read from the database), uncached.",
    ["kind", "result"],
)

Stocks = Callable[[Sequence[str]], Awaitable[dict[str, int]]]
T = TypeVar("T")


def stock_key(sku: str) -> str:
    return STOCK_PREFIX + sku


class ProductReadCache:
    def __init__(self, cache: Cache, stock_ttl_seconds: float) -> None:
        self.cache = cache
        self.stock_ttl_seconds = stock_ttl_seconds
        self._in_flight: dict[str, asyncio.Future[Any]] = {}

    async def _once(self, key: str, read: Callable[[], Awaitable[T]]) -> T:
        """`read()`, shared by every caller asking for `key` while it runs."""
        flight = self._in_flight.get(key)
        if flight is None:
            flight = self._in_flight[key] = asyncio.ensure_future(read())
            # Retrieved even when every caller was cancelled (no "exception never retrieved").
            flight.add_done_callback(lambda done: self._land(key, done))
        # Shielded: a caller that goes away (client disconnect) does not cancel the others' read.
        return cast(T, await asyncio.shield(flight))

    def _land(self, key: str, flight: asyncio.Future[Any]) -> None:
        if self._in_flight.get(key) is flight:
            del self._in_flight[key]
        if not flight.cancelled():
            flight.exception()

    async def invalidate_products(self, *skus: str) -> None:
        """After an admin write: every cached body (generation bump) and these skus' stock."""
        await self.cache.bump(CACHE_NAMESPACE)
        await self.cache.delete(*(stock_key(sku) for sku in skus))

    async def stock_changed(self, stocks: Mapping[str, int], read_since: float) -> None:
        """After a reservation or release committed: the new stock of each sku it touched.
        `read_since` is time.monotonic() taken before the statement that returned the values."""
        await self._store_stocks(stocks, read_since)

    async def _store_stocks(self, stocks: Mapping[str, int], read_since: float) -> None:
        remaining = self.stock_ttl_seconds - (time.monotonic() - read_since)
        if remaining > 0 and stocks:
            await self.cache.set_many({stock_key(s): str(n).encode() for s, n in stocks.items()}, remaining)

    async def _cached_stocks(self, skus: Sequence[str], load: Stocks) -> tuple[dict[str, int], bool] | None:
        """The skus' stock, from the cache where it is, else from the database (and then cached);
        None when a sku no longer exists. The flag says whether the database was asked."""
        raw = await self.cache.get_many([stock_key(s) for s in skus])
        found = {sku: int(value) for sku, value in zip(skus, raw, strict=True) if value is not None}
        if len(found) == len(skus):
            return found, False

        # Refresh the page's every sku in one statement, so their keys expire together and a list
        # misses once per bound, not once per sku.
        async def refresh() -> dict[str, int]:
            started = time.monotonic()
            fresh = await load(skus)
            if len(fresh) == len(skus):
                await self._store_stocks(fresh, started)
            return fresh

        fresh = await self._once(f"stock:{','.join(skus)}", refresh)
        if len(fresh) != len(skus):
            return None
        return fresh, True

    async def item(self, sku: str, produce: Callable[[], Awaitable[tuple[bytes, int]]], load: Stocks) -> bytes:
        """The product's JSON. `produce` reads it from the database: (body, stock)."""
        generation = await self.cache.generation(CACHE_NAMESPACE)
        if generation < 0:
            PRODUCT_READS.labels("item", "uncached").inc()
            return (await self._once(f"uncached:product:{sku}", produce))[0]
        body_key = f"{CACHE_NAMESPACE}:{generation}:product:{sku}"
        body, raw_stock = await self.cache.get_many([body_key, stock_key(sku)])
        if body is not None and raw_stock is not None:
            PRODUCT_READS.labels("item", "hit").inc()
            return _with_stock(body, {sku: int(raw_stock)})
        if body is not None:
            stocks = await self._cached_stocks([sku], load)
            if stocks is not None:
                PRODUCT_READS.labels("item", "stock").inc()
                return _with_stock(body, stocks[0])
        PRODUCT_READS.labels("item", "miss").inc()

        async def read() -> bytes:
            started = time.monotonic()
            body, stock = await produce()
            await self.cache.set(body_key, body)
            await self._store_stocks({sku: stock}, started)
            return body

        return await self._once(body_key, read)

    async def page(
        self, key: str, produce: Callable[[], Awaitable[tuple[bytes, dict[str, int]]]], load: Stocks
    ) -> bytes:
        """A product page's JSON. `produce` reads it from the database: (body, stock by sku)."""
        generation = await self.cache.generation(CACHE_NAMESPACE)
        if generation < 0:
            PRODUCT_READS.labels("list", "uncached").inc()
            return (await self._once(f"uncached:list:{key}", produce))[0]
        body_key = f"{CACHE_NAMESPACE}:{generation}:list:{key}"
        body = await self.cache.get(body_key)
        if body is not None:
            skus = [str(item["sku"]) for item in orjson.loads(body)["items"]]
            if not skus:
                PRODUCT_READS.labels("list", "hit").inc()
                return body
            stocks = await self._cached_stocks(skus, load)
            if stocks is not None:
                PRODUCT_READS.labels("list", "stock" if stocks[1] else "hit").inc()
                return _with_stock(body, stocks[0])
        PRODUCT_READS.labels("list", "miss").inc()

        async def read() -> bytes:
            started = time.monotonic()
            body, fresh = await produce()
            await self.cache.set(body_key, body)
            await self._store_stocks(fresh, started)
            return body

        return await self._once(body_key, read)


def _with_stock(body: bytes, stocks: Mapping[str, int]) -> bytes:
    """The cached JSON (a product or a page of them) with each product's stock replaced."""
    document = orjson.loads(body)
    items = document.get("items", [document])
    for item in items:
        item["stock"] = stocks[item["sku"]]
    return orjson.dumps(document)
