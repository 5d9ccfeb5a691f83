"""Orders in the database. Every status change happens in one transaction with the order row
locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers), and
writes its event row in the same transaction: no status change without its history."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import cast

from sqlalchemy import Insert, Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orders.models import OrderEventRow, OrderLineRow, OrderRow, OrderView, PlacedEvent, PlacedLine, PlacedOrder
from shopfloor_common.contracts.orders import HOLDS_STOCK, TRANSITIONS, Customer
from shopfloor_common.db import (
    bound_as,
    bound_insert,
    bound_value,
    session_factory,
    transaction,
    utcnow,
    writes_in_with,
    written_columns,
)
from shopfloor_common.errors import Problem


@dataclass(frozen=True)
class PricedLine:
    sku: str
    name: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.unit_price_cents * self.quantity


@dataclass(frozen=True)
class NewOrder:
    id: str
    idempotency_key: str
    request_hash: str
    customer: Customer
    lines: Sequence[PricedLine]
    currency: str
    reconcile_after: datetime


@dataclass(frozen=True)
class Settled:
    row: OrderRow
    changed: bool  # this call moved the order out of PENDING
    must_release: bool  # catalog holds stock for an order whose status does not: give it back


@dataclass(frozen=True)
class Moved:
    row: OrderRow
    from_status: str
    changed: bool


# Core statements on the tables themselves on the checkout path, on a connection rather than an ORM
# session: the unit of work (flush, identity map, relationship bookkeeping) was the largest share of
# orders' CPU per checkout (docs/performance.md, the orders flame graph).
ORDERS = cast(Table, OrderRow.__table__)
ORDER_LINES = cast(Table, OrderLineRow.__table__)
ORDER_EVENTS = cast(Table, OrderEventRow.__table__)
EVENT_COLUMNS = written_columns(ORDER_EVENTS)

# The checkout's statements are built once and executed with their values in a dict (a list of
# them for several rows), and each can be kept in SQLAlchemy's compiled cache (a multi-row VALUES
# cannot: it would be compiled on every checkout, which cost as much CPU as the one-statement
# writes save; test_the_checkout_statements_are_compiled_once watches it).
INSERT_ORDER, INSERT_LINE, INSERT_EVENT = insert(ORDERS), insert(ORDER_LINES), insert(ORDER_EVENTS)
ORDER_ID_BY_KEY = select(ORDERS.c.id).where(ORDERS.c.idempotency_key == bound_value(ORDERS, "idempotency_key", "by_"))
# Bound as order_id, to_status and at, like the event that records the move.
MOVE_OUT_OF_PENDING = (
    update(ORDERS)
    .where(ORDERS.c.id == bound_value(ORDER_EVENTS, "order_id"), ORDERS.c.status == "PENDING")
    .values(
        status=bound_value(ORDER_EVENTS, "to_status"), updated_at=bound_value(ORDER_EVENTS, "at"), reconcile_after=None
    )
    .returning(ORDERS.c.id)
)


@cache
def insert_order_in_one_statement(line_count: int) -> Insert:
    """PostgreSQL: the order, its lines and its first event in one atomic statement (INSERTs in
    WITH); values bound as order_<column>, line{n}_<column> and event_<column>."""
    order = bound_insert(ORDERS, "order_")
    statement = bound_insert(ORDER_EVENTS, "event_").add_cte(order.cte("new_order"))
    for n in range(line_count):
        statement = statement.add_cte(bound_insert(ORDER_LINES, f"line{n}_").cte(f"new_line_{n}"))
    return statement


def _settle_in_one_statement() -> Insert:
    """PostgreSQL: MOVE_OUT_OF_PENDING and its event in one statement. The event is inserted from
    what the UPDATE returned: no row moved, no event written (and no row returned)."""
    moved = MOVE_OUT_OF_PENDING.cte("moved")
    event_values = select(moved.c.id, *(bound_value(ORDER_EVENTS, name) for name in EVENT_COLUMNS[1:]))
    return insert(ORDER_EVENTS).from_select(EVENT_COLUMNS, event_values).returning(ORDER_EVENTS.c.order_id)


SETTLE_IN_ONE_STATEMENT = _settle_in_one_statement()


def order_not_found(order_id: str) -> Problem:
    return Problem(404, f"no order with id {order_id!r}", type_="order-not-found")


def invalid_transition(current: str, wanted: str, allowed: Collection[str]) -> Problem:
    names = sorted(allowed)
    what_next = f"allowed: {', '.join(names)}" if names else f"{current} is final"
    return Problem(
        409,
        f"an order in status {current} cannot become {wanted}; {what_next}",
        type_="invalid-transition",
        status_now=current,
        requested=wanted,
        allowed=names,
    )


def _add_event(row: OrderRow, to_status: str, reason: str, request_id: str | None, at: datetime) -> None:
    row.events.append(
        OrderEventRow(
            order_id=row.id, from_status=row.status, to_status=to_status, at=at, reason=reason, request_id=request_id
        )
    )
    row.status = to_status
    row.updated_at = at


class OrderRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        # One statement needs no transaction of its own: no BEGIN and COMMIT round trips.
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        # A checkout's two writes (the PENDING order with its lines and event; the settle with its
        # event) take one round trip each where the database allows, instead of six and five.
        self.writes_in_one_statement = writes_in_with(engine)

    async def get(self, order_id: str) -> OrderRow:
        async with self.sessions() as session:
            row = await session.get(OrderRow, order_id)
        if row is None:
            raise order_not_found(order_id)
        return row

    async def find_by_key(self, idempotency_key: str) -> OrderRow | None:
        # Nearly every checkout brings a new key: the miss is one indexed lookup of the id, and
        # only a replay loads the whole order.
        async with self.autocommit.connect() as connection:
            order_id = await connection.scalar(ORDER_ID_BY_KEY, {"by_idempotency_key": idempotency_key})
        return None if order_id is None else await self.get(order_id)

    async def insert_pending(self, new: NewOrder, request_id: str | None) -> PlacedOrder:
        """Store the order as PENDING and commit; raises IntegrityError when the key is taken.
        Three INSERTs, all or none; the row returned is built from what was written."""
        now = utcnow()
        placed = PlacedOrder(
            id=new.id,
            idempotency_key=new.idempotency_key,
            request_hash=new.request_hash,
            status="PENDING",
            currency=new.currency,
            total_cents=sum(line.total_cents for line in new.lines),
            customer_name=new.customer.name,
            customer_email=new.customer.email,
            customer_address=new.customer.address,
            created_at=now,
            updated_at=now,
            reconcile_after=new.reconcile_after,
            release_pending=False,
            release_requested_at=None,
            lines=[
                PlacedLine(
                    order_id=new.id,
                    position=position,
                    sku=line.sku,
                    name=line.name,
                    quantity=line.quantity,
                    unit_price_cents=line.unit_price_cents,
                    line_total_cents=line.total_cents,
                )
                for position, line in enumerate(new.lines)
            ],
            events=[
                PlacedEvent(
                    order_id=new.id,
                    from_status=None,
                    to_status="PENDING",
                    at=now,
                    reason="order placed",
                    request_id=request_id,
                )
            ],
        )
        order = placed.columns()
        lines = [line.columns() for line in placed.lines]
        event = placed.events[0].columns()
        if self.writes_in_one_statement:
            values = bound_as("order_", order) | bound_as("event_", event)
            for n, line in enumerate(lines):
                values |= bound_as(f"line{n}_", line)
            async with self.autocommit.connect() as connection:
                await connection.execute(insert_order_in_one_statement(len(lines)), values)
        else:
            async with self.engine.begin() as connection:
                await connection.execute(INSERT_ORDER, order)
                await connection.execute(INSERT_LINE, lines)
                await connection.execute(INSERT_EVENT, event)
        return placed

    async def page(self, status: str | None, limit: int, offset: int) -> tuple[list[OrderRow], int]:
        conditions = [OrderRow.status == status] if status else []
        async with self.sessions() as session:
            total = await session.scalar(select(func.count()).select_from(OrderRow).where(*conditions))
            rows = await session.scalars(
                select(OrderRow)
                .where(*conditions)
                .order_by(OrderRow.created_at.desc(), OrderRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return list(rows), int(total or 0)

    async def count(self) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(OrderRow)) or 0)

    @staticmethod
    async def _locked(session: AsyncSession, order_id: str) -> OrderRow:
        row = await session.get(OrderRow, order_id, with_for_update=True, populate_existing=True)
        if row is None:
            raise order_not_found(order_id)
        return row

    async def settle_pending(self, row: OrderView, to_status: str, reason: str, request_id: str | None) -> bool:
        """The checkout's fast path for settle(): PENDING -> to_status with its event, a conditional
        UPDATE and the event's INSERT, all or none, on a connection (instead of SELECT ... FOR
        UPDATE and the ORM's reloads). `row` is the order as insert_pending() returned it; on
        success it is updated in memory to what was committed. False (nothing written) when the
        order is no longer PENDING: settle() then decides, with the row locked."""
        now = utcnow()
        settled = PlacedEvent(
            order_id=row.id, from_status="PENDING", to_status=to_status, at=now, reason=reason, request_id=request_id
        )
        event = settled.columns()
        if self.writes_in_one_statement:
            async with self.autocommit.connect() as connection:
                if await connection.scalar(SETTLE_IN_ONE_STATEMENT, event) is None:
                    return False
        else:
            async with self.engine.begin() as connection:
                if await connection.scalar(MOVE_OUT_OF_PENDING, event) is None:
                    return False
                await connection.execute(INSERT_EVENT, event)
        if isinstance(row, PlacedOrder):
            row.events.append(settled)
        else:
            row.events.append(OrderEventRow(**event))
        row.status = to_status
        row.updated_at = now
        row.reconcile_after = None
        return True

    async def settle(
        self,
        order_id: str,
        to_status: str,
        reason: str,
        request_id: str | None,
        *,
        stock_held: bool,
        retry_at: datetime,
    ) -> Settled:
        """Record catalog's answer to a reservation: PENDING -> CONFIRMED or REJECTED.

        When the order left PENDING meanwhile (cancelled, or settled by another caller) and
        catalog now holds stock that its status does not account for, the release is marked
        pending here, in the same transaction, so that it happens even if this process dies
        before making the call itself.
        """
        async with transaction(self.sessions) as session:
            row = await self._locked(session, order_id)
            now = utcnow()
            if row.status == "PENDING":
                _add_event(row, to_status, reason, request_id, now)
                row.reconcile_after = None
                return Settled(row, changed=True, must_release=False)
            must_release = stock_held and row.status not in HOLDS_STOCK
            if must_release and not row.release_pending:
                row.release_pending = True
                row.release_requested_at = now
                row.reconcile_after = retry_at
            return Settled(row, changed=False, must_release=must_release)

    async def transition(
        self,
        order_id: str,
        to_status: str,
        reason: str,
        request_id: str | None,
        *,
        allowed_targets: Collection[str],
        release_retry_at: datetime,
    ) -> Moved:
        """Move an order along its lifecycle. Asking for the status it already has changes
        nothing (a retried request is answered, not refused); anything else not allowed from its
        status is a 409 that lists what is."""
        async with transaction(self.sessions) as session:
            row = await self._locked(session, order_id)
            current = row.status
            if current == to_status:
                return Moved(row, current, changed=False)
            allowed = TRANSITIONS[current] & frozenset(allowed_targets)
            if to_status not in allowed:
                raise invalid_transition(current, to_status, allowed)
            now = utcnow()
            _add_event(row, to_status, reason, request_id, now)
            # A PENDING order may hold stock too: its reservation may have reached catalog just
            # before a crash. Releasing an order catalog never reserved costs one 404.
            if to_status == "CANCELLED" and (current == "PENDING" or current in HOLDS_STOCK):
                row.release_pending = True
                row.release_requested_at = now
                row.reconcile_after = release_retry_at
            return Moved(row, current, changed=True)

    async def finish_release(self, order_id: str) -> None:
        async with transaction(self.sessions) as session:
            await session.execute(
                update(OrderRow)
                .where(OrderRow.id == order_id, OrderRow.release_pending.is_(True))
                .values(release_pending=False, reconcile_after=None)
            )

    async def schedule(self, order_id: str, at: datetime) -> None:
        """Have the reconciler look at the order again at `at`, unless it has nothing left to do."""
        async with transaction(self.sessions) as session:
            await session.execute(
                update(OrderRow)
                .where(OrderRow.id == order_id, OrderRow.reconcile_after.is_not(None))
                .values(reconcile_after=at)
            )

    async def unschedule(self, order_id: str) -> None:
        async with transaction(self.sessions) as session:
            await session.execute(
                update(OrderRow)
                .where(OrderRow.id == order_id, OrderRow.status != "PENDING", OrderRow.release_pending.is_(False))
                .values(reconcile_after=None)
            )

    async def claim_due(self, now: datetime, limit: int, lease_until: datetime) -> list[str]:
        """Take up to `limit` orders whose reconcile_after has come, and move it to `lease_until`.

        SKIP LOCKED lets several replicas claim at once without waiting on each other or taking
        the same order; the lease, committed before any call to catalog, keeps the others off it
        until it expires (which it does by itself if this process dies).
        """
        async with transaction(self.sessions) as session:
            ids = list(
                await session.scalars(
                    select(OrderRow.id)
                    .where(OrderRow.reconcile_after <= now)
                    .order_by(OrderRow.reconcile_after)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            if ids:
                await session.execute(update(OrderRow).where(OrderRow.id.in_(ids)).values(reconcile_after=lease_until))
            return ids

    async def backlog(self) -> tuple[datetime | None, int]:
        """(created_at of the oldest PENDING order, how many orders wait for their stock's release)."""
        async with self.sessions() as session:
            oldest = await session.scalar(select(func.min(OrderRow.created_at)).where(OrderRow.status == "PENDING"))
            releasing = await session.scalar(
                select(func.count()).select_from(OrderRow).where(OrderRow.release_pending.is_(True))
            )
        return oldest, int(releasing or 0)
