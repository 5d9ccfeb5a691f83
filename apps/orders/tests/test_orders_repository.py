"""The checkout's Core writes on both databases: the new order whole or not at all, the settle once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine.default import CACHE_HIT
from sqlalchemy.exc import IntegrityError

from orders.__main__ import MIGRATIONS_DIR
from orders.models import OrderEventRow, OrderLineRow, OrderRow
from orders.repository import NewOrder, OrderRepository, PricedLine
from shopfloor_common.contracts.orders import Customer
from shopfloor_common.db import create_engine, upgrade_to_head, utcnow
from shopfloor_common.settings import DatabaseSettings


def new_order(key: str) -> NewOrder:
    return NewOrder(
        id=f"ord_{uuid.uuid4().hex}",
        idempotency_key=key,
        request_hash="a" * 64,
        customer=Customer(name="Ada", email="ada@example.com", address="1 Row"),
        lines=[
            PricedLine(sku="MUG-001", name="Mug", quantity=2, unit_price_cents=1250),
            PricedLine(sku="TEE-002", name="Tee", quantity=1, unit_price_cents=2000),
        ],
        currency="EUR",
        reconcile_after=utcnow() + timedelta(seconds=30),
    )


async def _counts(orders: OrderRepository) -> tuple[int, int, int]:
    async with orders.sessions() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(OrderRow)) or 0),
            int(await session.scalar(select(func.count()).select_from(OrderLineRow)) or 0),
            int(await session.scalar(select(func.count()).select_from(OrderEventRow)) or 0),
        )


async def _write_and_settle(database_url: str) -> None:
    engine = create_engine(DatabaseSettings(database_url=database_url))
    orders = OrderRepository(engine)
    try:
        placed = await orders.insert_pending(new_order("key-1"), "req-1")

        stored = await orders.get(placed.id)
        assert (stored.status, stored.total_cents, stored.reconcile_after) == ("PENDING", 4500, placed.reconcile_after)
        assert [(line.position, line.sku, line.line_total_cents) for line in stored.lines] == [
            (0, "MUG-001", 2500),
            (1, "TEE-002", 2000),
        ]
        assert [(e.from_status, e.to_status, e.request_id) for e in stored.events] == [(None, "PENDING", "req-1")]
        assert (await orders.find_by_key("key-1")).id == placed.id  # type: ignore[union-attr]
        assert await orders.find_by_key("key-2") is None

        # The key is taken: nothing of the second order is written, not even its lines.
        with pytest.raises(IntegrityError):
            await orders.insert_pending(new_order("key-1"), "req-2")
        assert await _counts(orders) == (1, 2, 1)

        assert await orders.settle_pending(placed, "CONFIRMED", "stock reserved", "req-1") is True
        settled = await orders.get(placed.id)
        assert (settled.status, settled.reconcile_after) == ("CONFIRMED", None)
        assert [(e.from_status, e.to_status, e.reason) for e in settled.events] == [
            (None, "PENDING", "order placed"),
            ("PENDING", "CONFIRMED", "stock reserved"),
        ]
        assert [(e.from_status, e.to_status) for e in placed.events] == [(None, "PENDING"), ("PENDING", "CONFIRMED")]

        # No longer PENDING: nothing is written, and the caller is told.
        assert await orders.settle_pending(placed, "REJECTED", "too late", "req-3") is False
        assert (await orders.get(placed.id)).status == "CONFIRMED"
        assert await _counts(orders) == (1, 2, 2)
    finally:
        await engine.dispose()


def test_an_order_is_written_whole_and_settled_once(database_url: str) -> None:
    upgrade_to_head(MIGRATIONS_DIR, database_url)
    asyncio.run(_write_and_settle(database_url))


async def _cache_use_of_a_second_checkout(database_url: str) -> list[tuple[str, object]]:
    """(first words of each compiled statement, SQLAlchemy's compiled-cache answer) during the
    second of two checkouts' writes."""
    engine = create_engine(DatabaseSettings(database_url=database_url))
    orders = OrderRepository(engine)
    seen: list[tuple[str, object]] = []

    def note(_conn: object, _cursor: object, statement: str, _params: object, context: Any, _many: bool) -> None:
        if context.compiled is not None:
            seen.append((" ".join(statement.split()[:3]), context.cache_hit))

    try:
        for round_number in range(2):
            if round_number == 1:
                event.listen(engine.sync_engine, "after_cursor_execute", note)
            key = f"cache-{round_number}"
            assert await orders.find_by_key(key) is None
            placed = await orders.insert_pending(new_order(key), "req")
            assert await orders.settle_pending(placed, "CONFIRMED", "stock reserved", "req")
    finally:
        await engine.dispose()
    return seen


def test_the_checkout_statements_are_compiled_once(database_url: str) -> None:
    # A statement SQLAlchemy cannot key (a multi-row VALUES, say) is compiled on every execution:
    # that alone cost about as much CPU as the one-statement writes saved (docs/performance.md).
    upgrade_to_head(MIGRATIONS_DIR, database_url)
    seen = asyncio.run(_cache_use_of_a_second_checkout(database_url))
    assert len(seen) >= 3  # the key lookup, the order, the settle (more on SQLite: one per table)
    assert [statement for statement, answer in seen if answer is not CACHE_HIT] == []
