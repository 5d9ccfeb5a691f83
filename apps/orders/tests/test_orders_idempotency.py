"""Idempotency-Key: one key, one order, one reservation; the key is never reused for another body."""

from __future__ import annotations

import asyncio

from .conftest import ADMIN, CUSTOMER, OpenShop, Shop, assert_problem


async def test_same_key_and_body_answers_the_same_order_and_reserves_once(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    first = await shop.checkout(("MUG-001", 2), key="retry-key-0001")
    again = await shop.checkout(("MUG-001", 2), key="retry-key-0001")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["location"] == first.headers["location"]
    assert await shop.stock("MUG-001") == 3
    assert (await shop.orders.get("/orders")).json()["total"] == 1
    assert shop.catalog_server.faults.reservation_posts == 1  # the replay did not even ask catalog


async def test_replay_of_a_rejected_order_is_still_rejected_even_when_stock_came_back(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=1)
    first = await shop.checkout(("MUG-001", 2), key="retry-key-0002")
    assert first.json()["status"] == "REJECTED"
    await shop.catalog.patch("/products/MUG-001", json={"stock": 10}, headers=ADMIN)
    again = await shop.checkout(("MUG-001", 2), key="retry-key-0002")
    assert (again.status_code, again.json()["id"], again.json()["status"]) == (201, first.json()["id"], "REJECTED")
    assert await shop.stock("MUG-001") == 10


async def test_same_key_with_another_body_is_a_409(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    await shop.add_product("MUG-002", stock=5)
    assert (await shop.checkout(("MUG-001", 1), key="retry-key-0003")).status_code == 201

    for other in [(("MUG-001", 2),), (("MUG-002", 1),), (("MUG-001", 1), ("MUG-002", 1))]:
        refused = await shop.checkout(*other, key="retry-key-0003")
        assert_problem(refused, 409, mentions="Idempotency-Key")
    other_customer = await shop.orders.post(
        "/orders",
        json={"items": [{"sku": "MUG-001", "quantity": 1}], "customer": {**CUSTOMER, "name": "Someone Else"}},
        headers={"Idempotency-Key": "retry-key-0003"},
    )
    assert_problem(other_customer, 409)
    assert (await shop.stock("MUG-001"), await shop.stock("MUG-002")) == (4, 5)
    assert (await shop.orders.get("/orders")).json()["total"] == 1


async def test_line_order_does_not_make_another_request(shop: Shop) -> None:
    await shop.add_product("A-1", stock=5)
    await shop.add_product("B-1", stock=5)
    first = await shop.checkout(("A-1", 1), ("B-1", 2), key="retry-key-0004")
    again = await shop.checkout(("B-1", 2), ("A-1", 1), key="retry-key-0004")
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]


async def test_five_concurrent_retries_make_one_order_and_one_reservation(
    open_shop: OpenShop, orders_db: str | None
) -> None:
    async with open_shop(orders_db=orders_db) as shop:
        await shop.add_product("MUG-001", stock=10)

        responses = await asyncio.gather(*(shop.checkout(("MUG-001", 3), key="concurrent-key-1") for _ in range(5)))

        assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
        assert {r.json()["status"] for r in responses} == {"CONFIRMED"}
        assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 4
        assert await shop.stock("MUG-001") == 7
        listing = (await shop.orders.get("/orders")).json()
        assert listing["total"] == 1
        assert [e["to_status"] for e in listing["items"][0]["events"]] == ["PENDING", "CONFIRMED"]


async def test_a_retry_gets_its_order_when_the_price_lookup_would_refuse_it(shop: Shop) -> None:
    # The key is looked up only when the checkout would be refused (service.place): a retry must
    # still get its order when the sku is gone since, or catalog is down.
    await shop.add_product("MUG-001", stock=5)
    first = await shop.checkout(("MUG-001", 2), key="retry-key-0005")
    assert first.status_code == 201, first.text
    assert (await shop.catalog.delete("/products/MUG-001", headers=ADMIN)).status_code == 204
    sku_gone = await shop.checkout(("MUG-001", 2), key="retry-key-0005")
    new_key_sku_gone = await shop.checkout(("MUG-001", 2), key="retry-key-0006")
    await asyncio.to_thread(shop.catalog_server.stop)
    try:
        catalog_down = await shop.checkout(("MUG-001", 2), key="retry-key-0005")
        new_key_catalog_down = await shop.checkout(("MUG-001", 2), key="retry-key-0007")
        other_body_catalog_down = await shop.checkout(("MUG-001", 1), key="retry-key-0005")
    finally:
        await asyncio.to_thread(shop.catalog_server.start)

    for again in (sku_gone, catalog_down):
        assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true"), again.text
        assert again.json() == first.json()
    assert_problem(new_key_sku_gone, 422, mentions="MUG-001")
    assert_problem(new_key_catalog_down, 503)
    assert_problem(other_body_catalog_down, 409, mentions="Idempotency-Key")
    assert shop.catalog_server.faults.reservation_posts == 1
    assert (await shop.orders.get("/orders")).json()["total"] == 1
