"""Failures between orders and catalog: outages, slow answers, crashes after the commit, and the
reconciler that finishes what they interrupted, without losing an order or reserving twice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from orders.models import OrderRow
from orders.repository import NewOrder, PricedLine
from shopfloor_common.contracts.orders import Customer
from shopfloor_common.db import utcnow

from .conftest import CUSTOMER, OpenShop, Shop, assert_problem


async def crashed_checkout(shop: Shop, *lines: tuple[str, int], key: str | None = None) -> str:
    """What a checkout leaves behind when its process dies right after the commit: a PENDING
    order, stored by the same code a checkout runs, whose reservation was never answered."""
    order_id = f"ord_{uuid.uuid4().hex}"
    new = NewOrder(
        id=order_id,
        idempotency_key=key or f"crash-{uuid.uuid4().hex}",
        request_hash="0" * 64,
        customer=Customer(**CUSTOMER),
        lines=[PricedLine(sku=sku, name=sku, quantity=q, unit_price_cents=100) for sku, q in lines],
        currency="USD",
        reconcile_after=utcnow() - timedelta(seconds=1),
    )
    await shop.app.state.service.orders.insert_pending(new, "crashed-request")
    return order_id


async def test_catalog_down_at_checkout_is_a_503_and_creates_no_order(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    await asyncio.to_thread(shop.catalog_server.stop)

    down = await shop.checkout(("MUG-001", 1), key="outage-key-01")
    body = assert_problem(down, 503, mentions="catalog")
    assert body["type"].endswith("/catalog-unavailable")
    assert down.headers["retry-after"]
    assert (await shop.orders.get("/orders")).json()["total"] == 0

    await asyncio.to_thread(shop.catalog_server.start)
    retried = await shop.checkout(("MUG-001", 1), key="outage-key-01")
    assert (retried.status_code, retried.json()["status"]) == (201, "CONFIRMED")
    assert await shop.stock("MUG-001") == 4


@pytest.mark.parametrize("fault", ["503", "slow"])
async def test_reservation_without_answer_leaves_pending_then_the_reconciler_confirms(
    open_shop: OpenShop, fault: str
) -> None:
    # The clock-driven reconciler, fast: PENDING_TIMEOUT must exceed timeout x attempts (1.5 s).
    # The timeout is not shorter because the price lookup must still succeed on a busy machine.
    settings = {
        "catalog_timeout_seconds": 0.75,
        "catalog_max_attempts": 2,
        "pending_timeout_seconds": 1.6,
        "reconcile_interval_seconds": 0.1,
    }
    async with open_shop(**settings) as shop:
        await shop.add_product("MUG-001", stock=5)
        if fault == "503":
            shop.catalog_server.faults.status = 503
        else:  # catalog reserves, but answers after orders stopped waiting
            shop.catalog_server.faults.delay_seconds = 1.0

        accepted = await shop.checkout(("MUG-001", 2), key="pending-key-01")

        assert accepted.status_code == 202, accepted.text
        order = accepted.json()
        assert order["status"] == "PENDING"
        assert accepted.headers["location"] == f"/orders/{order['id']}"
        assert shop.catalog_server.faults.reservation_posts == 2  # retried, being idempotent
        shop.catalog_server.faults.status = None
        shop.catalog_server.faults.delay_seconds = 0.0

        confirmed = await shop.wait_for_status(order["id"], "CONFIRMED")

        assert await shop.stock("MUG-001") == 3  # reserved once, however many times it was asked
        finish = confirmed["events"][-1]
        assert (finish["from_status"], finish["to_status"]) == ("PENDING", "CONFIRMED")
        assert finish["request_id"].startswith("reconcile-")
        replay = await shop.checkout(("MUG-001", 2), key="pending-key-01")
        assert (replay.status_code, replay.json()["status"]) == (201, "CONFIRMED")
        metrics = (await shop.orders.get("/metrics")).text
        assert 'orders_created_total{outcome="pending"}' in metrics
        assert 'orders_reconciled_total{outcome="confirmed"}' in metrics
        assert "orders_pending_oldest_age_seconds" in metrics


async def test_crash_after_commit_is_finished_by_the_reconciler(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    await shop.add_product("LAST-ONE", stock=1)
    confirmable = await crashed_checkout(shop, ("MUG-001", 2))
    rejectable = await crashed_checkout(shop, ("LAST-ONE", 2))

    assert await shop.reconcile() == 2

    assert (await shop.order(confirmable))["status"] == "CONFIRMED"
    rejected = await shop.order(rejectable)
    assert rejected["status"] == "REJECTED"
    assert "LAST-ONE" in rejected["events"][-1]["reason"]
    assert (await shop.stock("MUG-001"), await shop.stock("LAST-ONE")) == (3, 1)
    assert await shop.reconcile() == 0


async def test_crash_after_catalog_reserved_confirms_without_reserving_again(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    order_id = await crashed_checkout(shop, ("MUG-001", 2))
    # The reservation reached catalog; the process died before recording the answer.
    reserved = await shop.catalog.post(
        "/reservations", json={"order_id": order_id, "items": [{"sku": "MUG-001", "quantity": 2}]}
    )
    assert reserved.status_code == 201

    await shop.reconcile()

    assert (await shop.order(order_id))["status"] == "CONFIRMED"
    assert await shop.stock("MUG-001") == 3


async def test_pending_orders_are_not_taken_over_before_their_timeout(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    order_id = await crashed_checkout(shop, ("MUG-001", 1))
    await shop.reconcile()
    fresh = await crashed_checkout(shop, ("MUG-001", 1))
    sessions = shop.app.state.service.orders.sessions
    async with sessions() as session, session.begin():
        row = await session.get(OrderRow, fresh)
        assert row is not None
        row.reconcile_after = utcnow() + timedelta(seconds=30)  # as a checkout in progress has it

    assert await shop.reconcile() == 0
    assert (await shop.order(fresh))["status"] == "PENDING"
    assert (await shop.order(order_id))["status"] == "CONFIRMED"


async def test_cancelled_pending_order_whose_reservation_arrives_late_is_released(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    order_id = await crashed_checkout(shop, ("MUG-001", 2))

    cancelled = (await shop.orders.post(f"/orders/{order_id}/cancel")).json()
    assert (cancelled["status"], cancelled["release_pending"]) == ("CANCELLED", True)  # catalog: 404 so far
    # The dead process's reservation reaches catalog only now.
    late = await shop.catalog.post(
        "/reservations", json={"order_id": order_id, "items": [{"sku": "MUG-001", "quantity": 2}]}
    )
    assert late.status_code == 201
    assert await shop.stock("MUG-001") == 3

    await shop.make_due(order_id)
    assert await shop.reconcile() == 1

    assert await shop.stock("MUG-001") == 5
    after = await shop.order(order_id)
    assert (after["status"], after["release_pending"]) == ("CANCELLED", False)
    assert [e["to_status"] for e in after["events"]] == ["PENDING", "CANCELLED"]  # never reserved again


async def test_release_of_a_never_reserved_order_settles_after_the_settle_time(open_shop: OpenShop) -> None:
    async with open_shop(release_settle_seconds=0.01) as shop:
        await shop.add_product("MUG-001", stock=5)
        order_id = await crashed_checkout(shop, ("MUG-001", 2))
        await shop.orders.post(f"/orders/{order_id}/cancel")
        await asyncio.sleep(0.02)  # let the (tiny) settle time pass
        await shop.make_due(order_id)

        await shop.reconcile()

        assert (await shop.order(order_id))["release_pending"] is False
        assert await shop.stock("MUG-001") == 5
        assert await shop.reconcile() == 0


async def test_reservation_that_overtakes_a_cancel_is_given_back(shop: Shop) -> None:
    """A reconciler's reservation succeeds for an order cancelled while it was in flight."""
    await shop.add_product("MUG-001", stock=5)
    order_id = await crashed_checkout(shop, ("MUG-001", 2))
    service = shop.app.state.service
    row = await service.orders.get(order_id)
    await shop.orders.post(f"/orders/{order_id}/cancel")  # the order is CANCELLED in the database now

    finished = await service.reserve(row)  # ...and the reservation that was already on its way lands

    assert (finished.status, finished.release_pending) == ("CANCELLED", False)
    assert await shop.stock("MUG-001") == 5


async def test_replicas_share_the_backlog_without_taking_the_same_order(
    open_shop: OpenShop, orders_db: str | None
) -> None:
    async with open_shop(orders_db=orders_db) as shop:
        await shop.add_product("MUG-001", stock=100)
        order_ids = [await crashed_checkout(shop, ("MUG-001", 1)) for _ in range(12)]
        replica = shop.app.state.reconciler
        twin = type(replica)(replica.service, replica.orders, replica.settings)

        worked = await asyncio.gather(replica.run_once(), twin.run_once(), replica.run_once(), twin.run_once())

        assert sum(worked) == 12
        assert await shop.stock("MUG-001") == 88
        for order_id in order_ids:
            order = await shop.order(order_id)
            assert [e["to_status"] for e in order["events"]] == ["PENDING", "CONFIRMED"]
