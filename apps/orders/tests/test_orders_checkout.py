"""Checkout against the real catalog: prices snapshotted, totals computed here, stock reserved."""

from __future__ import annotations

from .conftest import ADMIN, CUSTOMER, OpenShop, Shop, assert_problem


async def test_checkout_snapshots_prices_reserves_stock_and_records_events(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5, price_cents=1250)
    await shop.add_product("BOOK-SRE", stock=10, price_cents=399)

    response = await shop.checkout(("MUG-001", 2), ("BOOK-SRE", 3), headers={"X-Request-ID": "checkout-req-1"})

    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["location"] == f"/orders/{order['id']}"
    assert order["status"] == "CONFIRMED"
    assert order["items"] == [
        {
            "sku": "MUG-001",
            "name": "Product MUG-001",
            "quantity": 2,
            "unit_price_cents": 1250,
            "line_total_cents": 2500,
        },
        {
            "sku": "BOOK-SRE",
            "name": "Product BOOK-SRE",
            "quantity": 3,
            "unit_price_cents": 399,
            "line_total_cents": 1197,
        },
    ]
    assert (order["total_cents"], order["currency"]) == (3697, "USD")
    assert order["customer"] == CUSTOMER
    assert [(e["from_status"], e["to_status"], e["request_id"]) for e in order["events"]] == [
        (None, "PENDING", "checkout-req-1"),
        ("PENDING", "CONFIRMED", "checkout-req-1"),
    ]
    assert (await shop.stock("MUG-001"), await shop.stock("BOOK-SRE")) == (3, 7)
    reservation = (await shop.catalog.get(f"/reservations/{order['id']}")).json()
    assert reservation["status"] == "reserved"
    assert reservation["items"] == [{"sku": "BOOK-SRE", "quantity": 3}, {"sku": "MUG-001", "quantity": 2}]

    # The price is the one at order time, whatever catalog charges later.
    changed = await shop.catalog.patch("/products/MUG-001", json={"price_cents": 9999}, headers=ADMIN)
    assert changed.status_code == 200
    again = await shop.order(order["id"])
    assert (again["items"][0]["unit_price_cents"], again["total_cents"]) == (1250, 3697)


async def test_not_enough_stock_is_rejected_naming_the_sku(shop: Shop) -> None:
    await shop.add_product("LAST-ONE", stock=1)
    await shop.add_product("PLENTY", stock=50)

    response = await shop.checkout(("PLENTY", 1), ("LAST-ONE", 2))

    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "REJECTED"
    rejection = order["events"][-1]
    assert (rejection["from_status"], rejection["to_status"]) == ("PENDING", "REJECTED")
    assert "LAST-ONE (requested 2, available 1)" in rejection["reason"]
    assert "PLENTY" not in rejection["reason"]
    assert (await shop.stock("LAST-ONE"), await shop.stock("PLENTY")) == (1, 50)  # all or nothing
    assert (await shop.catalog.get(f"/reservations/{order['id']}")).status_code == 404


async def test_unknown_sku_and_mixed_currencies_create_no_order(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    await shop.add_product("MUG-EUR", stock=5, currency="EUR")

    unknown = assert_problem(await shop.checkout(("MUG-001", 1), ("GHOST-1", 1)), 422, mentions="GHOST-1")
    assert unknown["unknown_skus"] == ["GHOST-1"]
    assert unknown["errors"][0]["field"] == "items[1].sku"
    mixed = assert_problem(await shop.checkout(("MUG-001", 1), ("MUG-EUR", 1)), 422, mentions="currencies")
    assert mixed["currencies"] == ["EUR", "USD"]

    assert (await shop.orders.get("/orders")).json()["total"] == 0
    assert await shop.stock("MUG-001") == 5


async def test_listing_filters_by_status_newest_first_in_pages(shop: Shop) -> None:
    await shop.add_product("A-1", stock=2)
    ids = [(await shop.checkout(("A-1", 1))).json()["id"] for _ in range(3)]  # the third is REJECTED

    page = (await shop.orders.get("/orders", params={"limit": 2})).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    assert [o["id"] for o in page["items"]] == [ids[2], ids[1]]
    rest = (await shop.orders.get("/orders", params={"limit": 2, "offset": 2})).json()
    assert [o["id"] for o in rest["items"]] == [ids[0]]
    confirmed = (await shop.orders.get("/orders", params={"status": "CONFIRMED"})).json()
    assert sorted(o["id"] for o in confirmed["items"]) == sorted(ids[:2])
    rejected = (await shop.orders.get("/orders", params={"status": "REJECTED"})).json()
    assert [o["id"] for o in rejected["items"]] == [ids[2]]

    assert_problem(await shop.orders.get("/orders", params={"status": "LOST"}), 422, mentions="status")
    assert_problem(await shop.orders.get("/orders", params={"limit": 101}), 422, mentions="limit")
    assert_problem(await shop.orders.get("/orders/ord_nope"), 404, mentions="ord_nope")
    assert_problem(await shop.orders.get("/orders/bad%20id"), 422)


async def test_checkout_on_postgresql(open_shop: OpenShop, postgres_url: str) -> None:
    async with open_shop(orders_db=postgres_url) as shop:
        await shop.add_product("MUG-001", stock=3, price_cents=700)
        response = await shop.checkout(("MUG-001", 3))
        assert response.status_code == 201, response.text
        assert (response.json()["status"], response.json()["total_cents"]) == ("CONFIRMED", 2100)
        assert (await shop.checkout(("MUG-001", 1))).json()["status"] == "REJECTED"
        assert await shop.stock("MUG-001") == 0
