"""The orders database: orders, their priced lines, and one event row per status change.

`reconcile_after` is the reconciler's work queue: set while an order may need finishing (a
PENDING order, or a cancelled one whose stock catalog has not confirmed released), NULL when
nothing is left to do. Claiming an order moves it forward (a lease), so replicas never take the
same order at once and a crashed reconciler's claims simply expire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shopfloor_common.db import UTCDateTime, utcnow

STATUSES = ("PENDING", "CONFIRMED", "REJECTED", "PAID", "SHIPPED", "DELIVERED", "CANCELLED")


class Base(DeclarativeBase):
    pass


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")", name="known_status"),
        CheckConstraint("total_cents >= 0", name="total_not_negative"),
        Index("ix_orders_created_at_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int] = mapped_column(BigInteger)
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str] = mapped_column(String(320))
    customer_address: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reconcile_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    release_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    release_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    lines: Mapped[list[OrderLineRow]] = relationship(
        back_populates="order", order_by="OrderLineRow.position", lazy="selectin"
    )
    events: Mapped[list[OrderEventRow]] = relationship(
        back_populates="order", order_by="OrderEventRow.id", lazy="selectin"
    )


class OrderLineRow(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "sku"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_cents >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    line_total_cents: Mapped[int] = mapped_column(BigInteger)
    order: Mapped[OrderRow] = relationship(back_populates="lines")


class OrderEventRow(Base):
    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str | None] = mapped_column(String(128))
    order: Mapped[OrderRow] = relationship(back_populates="events")


# The checkout's order as written, without the ORM: building and changing the ORM objects cost
# about a fifth of the Python CPU of a checkout's database writes (attribute events, collection
# bookkeeping; profiled under bench/checkout_writes.py). Same attribute names as the rows.
class _Columns:
    __slots__ = ()
    _RELATIONS = frozenset({"lines", "events"})

    def columns(self) -> dict[str, object]:
        """The column values, as the INSERT statements bind them."""
        names: tuple[str, ...] = self.__slots__  # the fields, as @dataclass(slots=True) declares them
        return {name: getattr(self, name) for name in names if name not in self._RELATIONS}


@dataclass(slots=True)
class PlacedLine(_Columns):
    order_id: str
    position: int
    sku: str
    name: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


@dataclass(slots=True)
class PlacedEvent(_Columns):
    order_id: str
    from_status: str | None
    to_status: str
    at: datetime
    reason: str
    request_id: str | None


@dataclass(slots=True)
class PlacedOrder(_Columns):
    id: str
    idempotency_key: str
    request_hash: str
    status: str
    currency: str
    total_cents: int
    customer_name: str
    customer_email: str
    customer_address: str
    created_at: datetime
    updated_at: datetime
    reconcile_after: datetime | None
    release_pending: bool
    release_requested_at: datetime | None
    lines: list[PlacedLine] = field(default_factory=list)
    events: list[PlacedEvent] = field(default_factory=list)


# An order as the routes and the service read it: loaded (OrderRow) or just placed (PlacedOrder).
OrderView = OrderRow | PlacedOrder
