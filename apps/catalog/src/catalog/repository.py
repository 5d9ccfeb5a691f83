"""Products and stock reservations in the database.

Reserving is all-or-nothing in one transaction: each line is a guarded
`UPDATE ... SET stock = stock - q WHERE sku = ? AND stock >= q`, so concurrent reservations
serialise on the product row and stock can never go negative (a CHECK constraint backs this).
Lines are taken in sku order so two orders over the same products cannot deadlock. The
reservation row's primary key is the order id: reserving an order again returns the first
result and reserves nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, insert, literal, null, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from catalog.models import (
    PlacedReservation,
    PlacedReservationLine,
    ProductRow,
    ReservationLineRow,
    ReservationRow,
    ReservationView,
)
from shopfloor_common.contracts.catalog import InsufficientStock, ProductCreate, ProductUpdate, ReservationLine
from shopfloor_common.db import (
    bound_value,
    session_factory,
    transaction,
    utcnow,
    writes_in_with,
)
from shopfloor_common.errors import Problem

# The tables themselves: statements on them run as Core statements (no ORM compile and bulk
# persistence steps), which the checkout flame graph showed as a quarter of catalog's time.
PRODUCTS = cast(Table, ProductRow.__table__)
RESERVATIONS = cast(Table, ReservationRow.__table__)
RESERVATION_LINES = cast(Table, ReservationLineRow.__table__)


def product_not_found(sku: str) -> Problem:
    return Problem(404, f"no product with sku {sku!r}", type_="product-not-found", sku=sku)


@dataclass(frozen=True)
class ProductQuery:
    q: str | None = None
    category: str | None = None
    skus: Sequence[str] | None = None
    limit: int = 20
    offset: int = 0


class ProductRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def search(self, query: ProductQuery) -> tuple[list[ProductRow], int]:
        conditions = []
        if query.q:
            needle = query.q.lower()
            conditions.append(
                or_(
                    func.lower(ProductRow.name).contains(needle, autoescape=True),
                    func.lower(ProductRow.description).contains(needle, autoescape=True),
                    func.lower(ProductRow.sku).contains(needle, autoescape=True),
                )
            )
        if query.category:
            conditions.append(ProductRow.category == query.category)
        if query.skus is not None:
            conditions.append(ProductRow.sku.in_(list(query.skus)))
        async with self.sessions() as session:
            total = await session.scalar(select(func.count()).select_from(ProductRow).where(*conditions))
            rows = await session.scalars(
                select(ProductRow).where(*conditions).order_by(ProductRow.sku).limit(query.limit).offset(query.offset)
            )
            return list(rows), int(total or 0)

    async def get(self, sku: str) -> ProductRow:
        async with self.sessions() as session:
            row = await session.scalar(select(ProductRow).where(ProductRow.sku == sku))
        if row is None:
            raise product_not_found(sku)
        return row

    async def create(self, data: ProductCreate) -> ProductRow:
        row = ProductRow(**data.model_dump())
        try:
            async with transaction(self.sessions) as session:
                session.add(row)
        except IntegrityError:
            raise Problem(
                409, f"a product with sku {data.sku!r} exists already", type_="duplicate-sku", field="sku"
            ) from None
        return row

    async def update(self, sku: str, changes: ProductUpdate) -> ProductRow:
        values = changes.model_dump(exclude_unset=True)
        async with transaction(self.sessions) as session:
            row = await session.scalar(select(ProductRow).where(ProductRow.sku == sku).with_for_update())
            if row is None:
                raise product_not_found(sku)
            for name, value in values.items():
                if value is None:
                    raise Problem(422, f"{name} cannot be null", type_="validation", field=name)
                setattr(row, name, value)
            row.updated_at = utcnow()
        return row

    async def set_image(self, sku: str, image_name: str) -> tuple[ProductRow, str | None]:
        """Point the product at a new image; returns the row and the image it replaced."""
        async with transaction(self.sessions) as session:
            row = await session.scalar(select(ProductRow).where(ProductRow.sku == sku).with_for_update())
            if row is None:
                raise product_not_found(sku)
            previous = row.image_name
            row.image_name = image_name
            row.updated_at = utcnow()
        return row, previous

    async def delete(self, sku: str) -> str | None:
        """Delete the product; returns its image name so the caller can remove the file."""
        async with transaction(self.sessions) as session:
            row = await session.scalar(select(ProductRow).where(ProductRow.sku == sku))
            if row is None:
                raise product_not_found(sku)
            image = row.image_name
            await session.delete(row)
        return image

    async def count(self) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(ProductRow)) or 0)

    async def stocks(self, skus: Sequence[str]) -> dict[str, int]:
        """The stock of each of these skus that exists (one statement; the read cache's refresh)."""
        async with self.sessions() as session:
            result = await session.execute(select(ProductRow.sku, ProductRow.stock).where(ProductRow.sku.in_(skus)))
            return {str(sku): int(stock) for sku, stock in result.all()}


def merge_lines(lines: Sequence[ReservationLine]) -> dict[str, int]:
    """Quantities per sku, duplicates summed, in sku order (the lock order)."""
    merged: dict[str, int] = {}
    for line in lines:
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
    return dict(sorted(merged.items()))


# The reservation's statements are built once and executed with their values in a dict (a list of
# them for several rows); see shopfloor_common.db.bound_insert.
INSERT_RESERVATION, INSERT_RESERVATION_LINE = insert(RESERVATIONS), insert(RESERVATION_LINES)
TAKE_STOCK = (
    update(PRODUCTS)
    .where(PRODUCTS.c.sku == bound_value(PRODUCTS, "sku", "take_"), PRODUCTS.c.stock >= bindparam("take_quantity"))
    .values(
        stock=PRODUCTS.c.stock - bindparam("take_quantity"),
        updated_at=bindparam("take_at", type_=PRODUCTS.c.updated_at.type),
    )
    .returning(PRODUCTS.c.stock)
)


def _take_and_reserve_one_line() -> Select[Any]:
    """PostgreSQL, a one-line reservation as one statement (autocommit, no BEGIN and COMMIT round
    trips): TAKE_STOCK, and the reservation and its line inserted from the row it returned, so that
    stock short (or an unknown sku) writes nothing, and a twin's duplicate order id fails the whole
    statement, stock included. Bound as TAKE_STOCK is, and order_id."""
    take = TAKE_STOCK.cte("take")
    order_id = bound_value(RESERVATIONS, "order_id")
    reservation = insert(RESERVATIONS).from_select(
        ["order_id", "status", "created_at", "released_at"],
        select(
            order_id, literal("reserved"), bindparam("take_at", type_=RESERVATIONS.c.created_at.type), null()
        ).select_from(take),
    )
    line = insert(RESERVATION_LINES).from_select(
        ["order_id", "sku", "quantity"],
        select(order_id, bindparam("take_sku"), bindparam("take_quantity")).select_from(take),
    )
    return select(take.c.stock).add_cte(reservation.cte("new_reservation")).add_cte(line.cte("new_line"))


TAKE_AND_RESERVE_ONE_LINE = _take_and_reserve_one_line()


class ReservationRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.writes_in_one_statement = writes_in_with(engine)

    async def _find(self, order_id: str) -> ReservationRow | None:
        async with self.sessions() as session:
            return await session.get(ReservationRow, order_id)

    async def get(self, order_id: str) -> ReservationRow:
        row = await self._find(order_id)
        if row is None:
            raise Problem(404, f"no reservation for order {order_id!r}", type_="reservation-not-found")
        return row

    async def reserve(
        self, order_id: str, lines: Sequence[ReservationLine]
    ) -> tuple[ReservationView, bool, dict[str, int]]:
        """Reserve every line or none. Returns (reservation, created, stock left per sku reserved)."""
        wanted = merge_lines(lines)
        try:
            return await self._reserve_once(order_id, wanted)
        except IntegrityError:
            # The same order id raced us and won; its reservation is the answer.
            return self._same_or_conflict(await self.get(order_id), wanted), False, {}

    async def _reserve_once(
        self, order_id: str, wanted: dict[str, int]
    ) -> tuple[ReservationView, bool, dict[str, int]]:
        """The reservation and its lines are inserted first (the primary key claims the order id: a
        twin fails there, and reserve() answers it with the first), then each product's guarded
        TAKE_STOCK in sku order, then the commit: a product row's lock is held for one round trip
        (its UPDATE to the COMMIT). On PostgreSQL a one-line reservation, the usual checkout, is
        one statement instead (TAKE_AND_RESERVE_ONE_LINE). The answer is built from what was
        written and returned, not read back."""
        now = utcnow()
        takes = [{"take_sku": sku, "take_quantity": quantity, "take_at": now} for sku, quantity in wanted.items()]
        taken: list[int | None]
        if self.writes_in_one_statement and len(takes) == 1:
            async with self.autocommit.connect() as connection:
                taken = [await connection.scalar(TAKE_AND_RESERVE_ONE_LINE, takes[0] | {"order_id": order_id})]
            if taken == [None]:
                # Nothing was written. A retry of an order reserved earlier finds no stock to take
                # either (it took it the first time): the first reservation is its answer.
                if (earlier := await self._find(order_id)) is not None:
                    return self._same_or_conflict(earlier, wanted), False, {}
                async with self.autocommit.connect() as connection:
                    await self._refuse_if_short(connection, taken, wanted)
        else:
            header = {"order_id": order_id, "status": "reserved", "created_at": now, "released_at": None}
            lines = [{"order_id": order_id, "sku": sku, "quantity": quantity} for sku, quantity in wanted.items()]
            # A connection, not an ORM session: nothing here needs the unit of work.
            async with self.engine.begin() as connection:
                await connection.execute(INSERT_RESERVATION, header)
                await connection.execute(INSERT_RESERVATION_LINE, lines)
                taken = [await connection.scalar(TAKE_STOCK, take) for take in takes]
                await self._refuse_if_short(connection, taken, wanted)
        stocks = {sku: left for sku, left in zip(wanted, taken, strict=True) if left is not None}
        reservation = PlacedReservation(
            order_id=order_id,
            status="reserved",
            created_at=now,
            released_at=None,
            lines=[PlacedReservationLine(order_id=order_id, sku=sku, quantity=q) for sku, q in wanted.items()],
        )
        return reservation, True, stocks

    async def _refuse_if_short(
        self, connection: AsyncConnection, taken: list[int | None], wanted: dict[str, int]
    ) -> None:
        """A 409 naming the skus short of stock (a 404 for unknown ones) when a TAKE_STOCK returned
        nothing; raised inside the transaction, it rolls the reservation back."""
        short = [sku for sku, left in zip(wanted, taken, strict=True) if left is None]
        if short:
            await self._refuse(connection, short, wanted)

    async def _refuse(self, connection: AsyncConnection, short: list[str], wanted: dict[str, int]) -> None:
        stock = dict(
            (await connection.execute(select(ProductRow.sku, ProductRow.stock).where(ProductRow.sku.in_(short)))).all()
        )
        unknown = [sku for sku in short if sku not in stock]
        if unknown:
            raise Problem(404, f"unknown sku: {', '.join(unknown)}", type_="product-not-found", unknown_skus=unknown)
        insufficient = [
            InsufficientStock(sku=sku, requested=wanted[sku], available=stock[sku]).model_dump() for sku in short
        ]
        raise Problem(
            409,
            "not enough stock for " + ", ".join(f"{i['sku']} ({i['available']} left)" for i in insufficient),
            type_="insufficient-stock",
            insufficient=insufficient,
        )

    @staticmethod
    def _same_or_conflict(existing: ReservationRow, wanted: dict[str, int]) -> ReservationRow:
        if {line.sku: line.quantity for line in existing.lines} != wanted:
            raise Problem(
                409,
                f"order {existing.order_id!r} already has a reservation with other items",
                type_="reservation-conflict",
            )
        return existing

    async def release(self, order_id: str) -> tuple[ReservationRow, bool, dict[str, int]]:
        """Give the stock back once; releasing again changes nothing.
        Returns (reservation, released_now, stock per sku afterwards)."""
        stocks: dict[str, int] = {}
        async with transaction(self.sessions) as session:
            reservation = await session.get(ReservationRow, order_id, with_for_update=True)
            if reservation is None:
                raise Problem(404, f"no reservation for order {order_id!r}", type_="reservation-not-found")
            if reservation.status == "released":
                return reservation, False, {}
            for line in reservation.lines:
                left = await session.scalar(
                    update(ProductRow)
                    .where(ProductRow.sku == line.sku)
                    .values(stock=ProductRow.stock + line.quantity, updated_at=utcnow())
                    .returning(ProductRow.stock)
                    .execution_options(synchronize_session=False)
                )
                if left is not None:  # a product deleted since has no stock to give back
                    stocks[line.sku] = left
            reservation.status = "released"
            reservation.released_at = utcnow()
        return reservation, True, stocks
