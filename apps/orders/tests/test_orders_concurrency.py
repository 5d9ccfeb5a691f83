"""The acceptance figure on PostgreSQL: 100 concurrent checkouts of the last 10 units."""

from __future__ import annotations

import asyncio
from collections import Counter

from .conftest import OpenShop


async def test_100_concurrent_checkouts_against_stock_10_confirm_exactly_10(
    open_shop: OpenShop, postgres_url: str, catalog_postgres_url: str
) -> None:
    # Generous timeouts: this is about correctness under contention, not about latency. A small
    # pool: the connections queue (as they would in production) instead of crowding PostgreSQL.
    async with open_shop(
        orders_db=postgres_url,
        catalog_db=catalog_postgres_url,
        catalog_timeout_seconds=10,
        pending_timeout_seconds=30,
        db_pool_size=5,
        db_max_overflow=5,
        db_pool_timeout_seconds=60,  # a busy 2-core machine makes 100 queued checkouts wait longer than 5 s
    ) as shop:
        await shop.add_product("LIMITED", stock=10)

        responses = await asyncio.gather(*(shop.checkout(("LIMITED", 1)) for _ in range(100)))

        assert {r.status_code for r in responses} == {201}, {r.status_code: r.text for r in responses}
        assert Counter(r.json()["status"] for r in responses) == {"CONFIRMED": 10, "REJECTED": 90}
        assert len({r.json()["id"] for r in responses}) == 100
        assert await shop.stock("LIMITED") == 0
        listing = (await shop.orders.get("/orders", params={"status": "CONFIRMED", "limit": 100})).json()
        assert listing["total"] == 10
        for order in listing["items"]:
            reservation = (await shop.catalog.get(f"/reservations/{order['id']}")).json()
            assert (reservation["status"], reservation["items"]) == ("reserved", [{"sku": "LIMITED", "quantity": 1}])
        assert (await shop.orders.get("/orders", params={"status": "PENDING"})).json()["total"] == 0
