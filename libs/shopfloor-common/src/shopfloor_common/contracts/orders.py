"""Orders on the wire: checkout requests, orders with their lines and history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shopfloor_common.contracts.catalog import Quantity, Sku

OrderStatus = Literal["PENDING", "CONFIRMED", "REJECTED", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"]

# Which status may follow which; everything else is a 409 that lists the allowed ones.
TRANSITIONS: dict[str, frozenset[str]] = {
    "PENDING": frozenset({"CONFIRMED", "REJECTED", "CANCELLED"}),
    "CONFIRMED": frozenset({"PAID", "CANCELLED"}),
    "PAID": frozenset({"SHIPPED", "CANCELLED"}),
    "SHIPPED": frozenset({"DELIVERED"}),
    "DELIVERED": frozenset(),
    "REJECTED": frozenset(),
    "CANCELLED": frozenset(),
}
# Orders in these states hold reserved stock.
HOLDS_STOCK: frozenset[str] = frozenset({"CONFIRMED", "PAID", "SHIPPED", "DELIVERED"})

IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{8,128}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Customer(_Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$")]
    address: Annotated[str, StringConstraints(max_length=500)] = ""


class OrderLineRequest(_Strict):
    sku: Sku
    quantity: Quantity


class OrderCreate(_Strict):
    items: list[OrderLineRequest] = Field(min_length=1, max_length=50)
    customer: Customer


class OrderLine(BaseModel):
    sku: str
    name: str = Field(description="The product's name when the order was placed.")
    quantity: int
    unit_price_cents: int = Field(description="Price snapshot taken from catalog at order time.")
    line_total_cents: int


class OrderEvent(BaseModel):
    from_status: OrderStatus | None
    to_status: OrderStatus
    at: datetime
    reason: str
    request_id: str | None


class Order(BaseModel):
    id: str
    status: OrderStatus
    items: list[OrderLine]
    total_cents: int
    currency: str
    customer: Customer
    created_at: datetime
    updated_at: datetime
    events: list[OrderEvent] = Field(description="Every status change, oldest first.")


class OrderPage(BaseModel):
    items: list[Order]
    total: int
    limit: int
    offset: int


class TransitionRequest(_Strict):
    """Admin: move an order along its lifecycle."""

    to: OrderStatus
    reason: Annotated[str, StringConstraints(max_length=500)] = ""
