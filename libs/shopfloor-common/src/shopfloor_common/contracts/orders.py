"""Orders on the wire: checkout requests, orders with their lines and history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

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
    items: list[OrderLineRequest] = Field(
        min_length=1, max_length=50, description="One line per sku: a sku listed twice is refused, not merged."
    )
    customer: Customer

    @field_validator("items")
    @classmethod
    def _one_line_per_sku(cls, items: list[OrderLineRequest]) -> list[OrderLineRequest]:
        # Refused rather than merged: two lines merged could exceed the per-line quantity limit,
        # and a client that lists a sku twice most likely has a bug worth hearing about.
        first_index: dict[str, int] = {}
        for index, line in enumerate(items):
            if line.sku in first_index:
                raise ValueError(
                    f"sku {line.sku!r} is listed twice (items[{first_index[line.sku]}] and items[{index}]); "
                    "put its whole quantity on one line"
                )
            first_index[line.sku] = index
        return items


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
    release_pending: bool = Field(
        default=False,
        description="True while a cancelled order's stock is not yet confirmed back at catalog; orders retries "
        "the release until it is.",
    )


class OrderPage(BaseModel):
    items: list[Order]
    total: int
    limit: int
    offset: int


class TransitionRequest(_Strict):
    """Admin: move an order along its lifecycle."""

    to: OrderStatus
    reason: Annotated[str, StringConstraints(max_length=500)] = ""
