"""The catalog's products and stock reservations on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
Sku = Annotated[
    str,
    StringConstraints(pattern=SKU_PATTERN),
    Field(description="Stock-keeping unit: letters, digits, '-' and '_', 1-64 characters.", examples=["MUG-001"]),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]
Category = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Field(examples=["kitchen"])
]
PriceCents = Annotated[int, Field(ge=0, le=100_000_000, description="Price in minor units (cents).")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(description="ISO 4217 code.")]
Stock = Annotated[int, Field(ge=0, le=1_000_000, description="Units available to reserve.")]
Quantity = Annotated[int, Field(ge=1, le=100)]
OrderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

MAX_PAGE_SIZE = 100

# PUT /products/{sku}/image reads its multipart body itself (to refuse oversized uploads before
# parsing them), so FastAPI cannot derive the request body's schema: this is it.
IMAGE_UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "format": "binary", "description": "JPEG, PNG, WebP or GIF"}
                    },
                }
            }
        },
    }
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductCreate(_Strict):
    sku: Sku
    name: Name
    description: Description = ""
    category: Category
    price_cents: PriceCents
    currency: Currency = "USD"
    stock: Stock = 0


class ProductUpdate(_Strict):
    """Only the fields given change; `sku` cannot change."""

    name: Name | None = None
    description: Description | None = None
    category: Category | None = None
    price_cents: PriceCents | None = None
    currency: Currency | None = None
    stock: Stock | None = None


class Product(BaseModel):
    sku: str
    name: str
    description: str
    category: str
    price_cents: int
    currency: str
    stock: int
    image_url: str | None = Field(description="Where the product's image is served, or null.")
    created_at: datetime
    updated_at: datetime


class ProductPage(BaseModel):
    items: list[Product]
    total: int = Field(description="How many products match, across all pages.")
    limit: int
    offset: int


class ReservationLine(_Strict):
    sku: Sku
    quantity: Quantity


class ReservationRequest(_Strict):
    order_id: OrderId = Field(description="The order's id; reserving the same id again reserves nothing more.")
    items: list[ReservationLine] = Field(min_length=1, max_length=50)


class Reservation(BaseModel):
    order_id: str
    status: Literal["reserved", "released"]
    items: list[ReservationLine]
    created_at: datetime
    released_at: datetime | None = None


class InsufficientStock(BaseModel):
    sku: str
    requested: int
    available: int
