"""The catalog's tables. Stock can never go negative: a CHECK constraint backs the guarded UPDATE."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shopfloor_common.db import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class ProductRow(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64), index=True)
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    stock: Mapped[int] = mapped_column(Integer, default=0)
    image_name: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ReservationRow(Base):
    """One per order: its primary key is the order id, which makes reserving idempotent."""

    __tablename__ = "reservations"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    lines: Mapped[list[ReservationLineRow]] = relationship(
        back_populates="reservation", order_by="ReservationLineRow.sku", lazy="selectin"
    )


class ReservationLineRow(Base):
    __tablename__ = "reservation_lines"
    __table_args__ = (UniqueConstraint("order_id", "sku"), CheckConstraint("quantity > 0", name="quantity_positive"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("reservations.order_id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    reservation: Mapped[ReservationRow] = relationship(back_populates="lines")


# A reservation as the checkout writes it, without the ORM: building the ORM objects for the
# answer cost more CPU than the answer itself (orders.models.PlacedOrder says why in figures).
@dataclass(slots=True)
class PlacedReservationLine:
    order_id: str
    sku: str
    quantity: int


@dataclass(slots=True)
class PlacedReservation:
    order_id: str
    status: str
    created_at: datetime
    released_at: datetime | None
    lines: list[PlacedReservationLine] = field(default_factory=list)


# A reservation as the routes read it: loaded (ReservationRow) or just written (PlacedReservation).
ReservationView = ReservationRow | PlacedReservation
