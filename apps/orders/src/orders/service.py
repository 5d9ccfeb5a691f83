"""Checkout, cancel and lifecycle moves: the order rules, between the database and catalog.

The order is committed as PENDING before catalog is asked for stock, and the reservation is
keyed by the order id, so whatever fails after the commit (catalog down or slow, this process
killed) leaves a PENDING order that the reconciler finishes: never a lost order, never a second
reservation. docs/orders.md has the sequence diagrams.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import orjson
from sqlalchemy.exc import IntegrityError

from orders.catalog_client import CatalogStock
from orders.metrics import ORDER_TRANSITIONS, ORDERS_CREATED, RESERVATION_DURATION
from orders.models import OrderRow, OrderView
from orders.repository import NewOrder, OrderRepository, PricedLine
from orders.settings import OrdersSettings
from shopfloor_common.contracts.catalog import Product
from shopfloor_common.contracts.orders import OrderCreate, OrderLineRequest
from shopfloor_common.db import utcnow
from shopfloor_common.errors import Problem
from shopfloor_common.logs import request_id_var

log = logging.getLogger("orders")

# Statuses the admin route may set. CONFIRMED and REJECTED are catalog's answer to a
# reservation, never set by hand: a hand-made CONFIRMED would hold no stock.
MANUAL_TARGETS = frozenset({"PAID", "SHIPPED", "DELIVERED", "CANCELLED"})
REPLAY_POLL_SECONDS = 0.05


def new_order_id() -> str:
    return f"ord_{uuid.uuid4().hex}"


def request_digest(body: OrderCreate) -> str:
    """What makes two checkout requests 'the same': the validated body, lines in sku order."""
    canonical = body.model_dump(mode="json")
    canonical["items"] = sorted(canonical["items"], key=lambda line: line["sku"])
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def price_lines(items: Sequence[OrderLineRequest], products: Mapping[str, Product]) -> tuple[list[PricedLine], str]:
    """The lines with catalog's names and prices now, and their one currency; 422 naming any unknown sku."""
    unknown = [(index, line.sku) for index, line in enumerate(items) if line.sku not in products]
    if unknown:
        raise Problem(
            422,
            "unknown sku: " + ", ".join(sku for _, sku in unknown),
            type_="unknown-sku",
            title="Invalid request",
            unknown_skus=[sku for _, sku in unknown],
            errors=[
                {"field": f"items[{index}].sku", "in": "body", "message": f"no product with sku {sku!r}"}
                for index, sku in unknown
            ],
        )
    currencies = sorted({products[line.sku].currency for line in items})
    if len(currencies) > 1:
        raise Problem(
            422,
            f"the products are priced in different currencies ({', '.join(currencies)}); place one order per currency",
            type_="mixed-currencies",
            title="Invalid request",
            currencies=currencies,
        )
    lines = [
        PricedLine(
            sku=line.sku,
            name=products[line.sku].name,
            quantity=line.quantity,
            unit_price_cents=products[line.sku].price_cents,
        )
        for line in items
    ]
    return lines, currencies[0]


@dataclass(frozen=True)
class Placement:
    row: OrderView
    replayed: bool  # an earlier request with the same Idempotency-Key created it


class OrderService:
    def __init__(self, orders: OrderRepository, catalog: CatalogStock, settings: OrdersSettings) -> None:
        self.orders = orders
        self.catalog = catalog
        self.settings = settings
        # How long a checkout may still be waiting for its reservation after its commit.
        self.reservation_budget = timedelta(
            seconds=settings.catalog_timeout_seconds * settings.catalog_max_attempts + 1.0
        )
        self.retry_delay = timedelta(seconds=settings.reconcile_interval_seconds)

    # --- checkout ------------------------------------------------------------------------

    async def place(self, idempotency_key: str, body: OrderCreate) -> Placement:
        digest = request_digest(body)
        # Most keys are new, so the key is looked up only when the insert finds it taken or when
        # the checkout would be refused: a retry of an order placed earlier gets that order
        # whatever catalog says now (down, sku gone). One statement fewer per checkout
        # (docs/performance.md); a retry pays a price lookup instead, never a reservation.
        try:
            products = await self.catalog.products([line.sku for line in body.items])
            lines, currency = price_lines(body.items, products)
        except Problem:
            existing = await self.orders.find_by_key(idempotency_key)
            if existing is not None:
                return await self._replay(existing, digest)
            raise
        new = NewOrder(
            id=new_order_id(),
            idempotency_key=idempotency_key,
            request_hash=digest,
            customer=body.customer,
            lines=lines,
            currency=currency,
            reconcile_after=utcnow() + timedelta(seconds=self.settings.pending_timeout_seconds),
        )
        try:
            row = await self.orders.insert_pending(new, request_id_var.get())
        except IntegrityError:
            # The key is taken (unique constraint): by an earlier request or a concurrent twin that
            # committed first, it is the answer. Anything else is a real error.
            existing = await self.orders.find_by_key(idempotency_key)
            if existing is None:
                raise
            return await self._replay(existing, digest)
        ORDER_TRANSITIONS.labels("none", "PENDING").inc()
        placed = await self.reserve(row)
        ORDERS_CREATED.labels(placed.status.lower()).inc()
        return Placement(placed, replayed=False)

    async def _replay(self, existing: OrderRow, digest: str) -> Placement:
        if existing.request_hash != digest:
            raise Problem(
                409,
                "this Idempotency-Key was already used for a different order; send a new key for a new order",
                type_="idempotency-key-reused",
            )
        # A twin that arrived while the first request is still reserving waits for its outcome,
        # so both get the same answer; after the budget, PENDING is the answer (202).
        row = existing
        wait_until = row.created_at + self.reservation_budget
        while row.status == "PENDING" and utcnow() < wait_until:
            await asyncio.sleep(REPLAY_POLL_SECONDS)
            row = await self.orders.get(row.id)
        return Placement(row, replayed=True)

    async def reserve(self, row: OrderView) -> OrderView:
        """Ask catalog to reserve a PENDING order's stock and record the answer. When catalog
        cannot answer, the order stays PENDING for the reconciler."""
        started = time.perf_counter()
        result = await self.catalog.reserve(row.id, [(line.sku, line.quantity) for line in row.lines])
        RESERVATION_DURATION.labels(result.outcome).observe(time.perf_counter() - started)
        if result.outcome == "unavailable":
            log.warning("order %s stays PENDING: %s", row.id, result.reason)
            return row
        to_status = "CONFIRMED" if result.outcome == "reserved" else "REJECTED"
        if await self.orders.settle_pending(row, to_status, result.reason, request_id_var.get()):
            ORDER_TRANSITIONS.labels("PENDING", to_status).inc()
            return row
        # No longer PENDING (cancelled meanwhile, or settled by the reconciler): decide with the row locked.
        settled = await self.orders.settle(
            row.id,
            to_status,
            result.reason,
            request_id_var.get(),
            stock_held=result.outcome == "reserved",
            retry_at=utcnow() + self.retry_delay,
        )
        if settled.changed:
            ORDER_TRANSITIONS.labels("PENDING", to_status).inc()
        if settled.must_release:
            log.info("order %s became %s while its stock was being reserved: releasing", row.id, settled.row.status)
            await self.release(settled.row)
            return await self.orders.get(row.id)
        return settled.row

    # --- lifecycle -----------------------------------------------------------------------

    async def cancel(self, order_id: str, reason: str = "cancelled by the customer") -> OrderRow:
        return await self.transition(order_id, "CANCELLED", reason)

    async def transition(self, order_id: str, to_status: str, reason: str) -> OrderRow:
        moved = await self.orders.transition(
            order_id,
            to_status,
            reason,
            request_id_var.get(),
            allowed_targets=MANUAL_TARGETS,
            release_retry_at=utcnow() + self.retry_delay,
        )
        if moved.changed:
            ORDER_TRANSITIONS.labels(moved.from_status, to_status).inc()
        # A retried cancel also retries a release that has not been confirmed yet: it is idempotent.
        if moved.row.release_pending:
            await self.release(moved.row)
            return await self.orders.get(order_id)
        return moved.row

    async def release(self, row: OrderRow) -> str:
        """Give an order's stock back at catalog; returns released, nothing_to_release,
        recheck_release (catalog knows no reservation yet) or unavailable."""
        outcome = await self.catalog.release(row.id)
        if outcome == "released":
            await self.orders.finish_release(row.id)
            return "released"
        now = utcnow()
        if outcome == "absent":
            # No reservation at catalog. One sent just before a crash could still arrive, so
            # this is believed only once the settle time has passed since the release was asked for.
            requested_at = row.release_requested_at or row.updated_at
            if now - requested_at >= timedelta(seconds=self.settings.release_settle_seconds):
                log.info("order %s: catalog holds no reservation for it; nothing to release", row.id)
                await self.orders.finish_release(row.id)
                return "nothing_to_release"
            await self.orders.schedule(row.id, now + self.retry_delay)
            return "recheck_release"
        await self.orders.schedule(row.id, now + self.retry_delay)
        return "unavailable"
