"""The lifecycle: admin moves, cancels that give stock back exactly once, 409s that say what is allowed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from .conftest import ADMIN, Shop, assert_problem


async def move(shop: Shop, order_id: str, to: str, reason: str = "", **headers: str) -> httpx.Response:
    body: dict[str, Any] = {"to": to, **({"reason": reason} if reason else {})}
    return await shop.orders.post(f"/orders/{order_id}/transitions", json=body, headers={**ADMIN, **headers})


async def confirmed_order(shop: Shop, sku: str = "MUG-001", quantity: int = 2) -> str:
    response = await shop.checkout((sku, quantity))
    assert response.json()["status"] == "CONFIRMED", response.text
    order_id: str = response.json()["id"]
    return order_id


async def test_admin_moves_an_order_to_delivered_with_every_step_recorded(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    order_id = await confirmed_order(shop)

    paid = await move(shop, order_id, "PAID", "card captured", **{"X-Request-ID": "pay-1"})
    assert (paid.status_code, paid.json()["status"]) == (200, "PAID")
    assert (await move(shop, order_id, "SHIPPED")).json()["status"] == "SHIPPED"
    delivered = await move(shop, order_id, "DELIVERED")
    assert delivered.json()["status"] == "DELIVERED"

    events = delivered.json()["events"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        (None, "PENDING"),
        ("PENDING", "CONFIRMED"),
        ("CONFIRMED", "PAID"),
        ("PAID", "SHIPPED"),
        ("SHIPPED", "DELIVERED"),
    ]
    assert (events[2]["reason"], events[2]["request_id"]) == ("card captured", "pay-1")
    assert events[3]["reason"] == "set to SHIPPED by an admin"
    assert events == sorted(events, key=lambda e: e["at"])
    assert await shop.stock("MUG-001") == 3  # delivered goods stay taken

    # A retried move to where the order already is answers it again, adding nothing.
    again = await move(shop, order_id, "DELIVERED")
    assert (again.status_code, len(again.json()["events"])) == (200, 5)


async def test_invalid_transitions_are_409_listing_the_allowed_ones(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    order_id = await confirmed_order(shop)

    skipped = assert_problem(await move(shop, order_id, "SHIPPED"), 409, mentions="CONFIRMED")
    assert skipped["allowed"] == ["CANCELLED", "PAID"]
    assert (skipped["status_now"], skipped["requested"]) == ("CONFIRMED", "SHIPPED")
    by_hand = assert_problem(await move(shop, order_id, "REJECTED"), 409)
    assert by_hand["allowed"] == ["CANCELLED", "PAID"]

    await move(shop, order_id, "PAID")
    await move(shop, order_id, "SHIPPED")
    late_cancel = assert_problem(await shop.orders.post(f"/orders/{order_id}/cancel"), 409, mentions="CANCELLED")
    assert late_cancel["allowed"] == ["DELIVERED"]
    await move(shop, order_id, "DELIVERED")
    final = assert_problem(await move(shop, order_id, "PAID"), 409, mentions="final")
    assert final["allowed"] == []

    await shop.add_product("LAST-ONE", stock=0)
    rejected = (await shop.checkout(("LAST-ONE", 1))).json()
    assert assert_problem(await move(shop, rejected["id"], "PAID"), 409)["allowed"] == []
    assert_problem(await shop.orders.post(f"/orders/{rejected['id']}/cancel"), 409)
    assert (await shop.order(order_id))["status"] == "DELIVERED"


async def test_a_pending_order_cannot_be_confirmed_by_hand(shop: Shop) -> None:
    """CONFIRMED is catalog's answer to a reservation; set by an admin it would be a CONFIRMED order
    holding no stock (issue 19: the mutation run found no test of it)."""
    await shop.add_product("MUG-001", stock=5)
    shop.catalog_server.faults.status = 503  # catalog cannot reserve: the order stays PENDING
    pending = await shop.checkout(("MUG-001", 2))
    assert (pending.status_code, pending.json()["status"]) == (202, "PENDING"), pending.text
    order_id = pending.json()["id"]

    by_hand = assert_problem(await move(shop, order_id, "CONFIRMED"), 409, mentions="CONFIRMED")
    assert by_hand["allowed"] == ["CANCELLED"]
    assert (await shop.order(order_id))["status"] == "PENDING"
    assert await shop.stock("MUG-001") == 5


async def test_the_transition_route_is_admin_only_and_validated(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    order_id = await confirmed_order(shop)
    url = f"/orders/{order_id}/transitions"
    assert_problem(await shop.orders.post(url, json={"to": "PAID"}), 401)
    assert_problem(await shop.orders.post(url, json={"to": "PAID"}, headers={"X-API-Key": "x" * 20}), 403)
    assert_problem(await shop.orders.post(url, json={"to": "LOST"}, headers=ADMIN), 422, mentions="to")
    assert_problem(await shop.orders.post(url, json={"to": "PAID", "reason": "x" * 501}, headers=ADMIN), 422)
    assert_problem(await shop.orders.post("/orders/ord_missing/transitions", json={"to": "PAID"}, headers=ADMIN), 404)
    assert (await shop.order(order_id))["status"] == "CONFIRMED"


async def test_cancelling_a_confirmed_order_restores_stock_exactly_once(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    order_id = await confirmed_order(shop, quantity=3)
    assert await shop.stock("MUG-001") == 2

    cancels = await asyncio.gather(*(shop.orders.post(f"/orders/{order_id}/cancel") for _ in range(3)))
    cancels.append(await shop.orders.post(f"/orders/{order_id}/cancel"))

    assert {c.status_code for c in cancels} == {200}
    assert {c.json()["status"] for c in cancels} == {"CANCELLED"}
    assert cancels[-1].json()["release_pending"] is False
    assert await shop.stock("MUG-001") == 5
    assert [e["to_status"] for e in cancels[-1].json()["events"]].count("CANCELLED") == 1
    reservation = (await shop.catalog.get(f"/reservations/{order_id}")).json()
    assert reservation["status"] == "released"
    assert_problem(await move(shop, order_id, "PAID"), 409)


async def test_cancelling_a_paid_order_gives_its_stock_back(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    order_id = await confirmed_order(shop, quantity=4)
    await move(shop, order_id, "PAID")
    cancelled = await move(shop, order_id, "CANCELLED", "customer changed their mind")
    assert cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["events"][-1]["reason"] == "customer changed their mind"
    assert await shop.stock("MUG-001") == 5


async def test_cancel_while_catalog_is_down_releases_once_catalog_is_back(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    order_id = await confirmed_order(shop, quantity=2)
    await asyncio.to_thread(shop.catalog_server.stop)

    cancelled = await shop.orders.post(f"/orders/{order_id}/cancel")
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["release_pending"]) == ("CANCELLED", True)

    await asyncio.to_thread(shop.catalog_server.start)
    await shop.make_due(order_id)
    assert await shop.reconcile() == 1
    assert (await shop.order(order_id))["release_pending"] is False
    assert await shop.stock("MUG-001") == 5
    assert await shop.reconcile() == 0  # nothing left to do
