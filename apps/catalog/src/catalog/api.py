"""The catalog's HTTP routes: products (reads cached), admin writes, images, stock reservations."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from catalog.images import IMAGE_NAME, MEDIA_TYPES, ImageStorage, image_name, sniff_image
from catalog.models import ProductRow, ReservationView
from catalog.read_cache import ProductReadCache
from catalog.repository import ProductQuery, ProductRepository, ReservationRepository
from catalog.settings import CatalogSettings
from shopfloor_common.auth import admin_guard
from shopfloor_common.cache import Cache
from shopfloor_common.contracts.catalog import (
    IMAGE_UPLOAD_OPENAPI,
    MAX_PAGE_SIZE,
    SKU_PATTERN,
    Product,
    ProductCreate,
    ProductPage,
    ProductUpdate,
    Reservation,
    ReservationLine,
    ReservationRequest,
)
from shopfloor_common.errors import Problem
from shopfloor_common.fast_routes import add_fast_route, json_body_as

JSON = "application/json"
MULTIPART_OVERHEAD_BYTES = 64 * 1024

SkuPath = Annotated[str, Path(pattern=SKU_PATTERN, description="The product's sku.")]
OrderIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

# Error responses need only a description: create_service_app documents every 4xx/5xx as
# application/problem+json (shopfloor_common.errors.document_problems).
PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not found"},
    422: {"description": "Invalid input; `errors` names each field"},
}
ADMIN_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **PROBLEMS,
    401: {"description": "X-API-Key missing"},
    403: {"description": "X-API-Key wrong"},
}


class ProductListParams(BaseModel):
    """The query of `GET /products`, for the documented route and the fast one alike."""

    q: str | None = Field(default=None, max_length=200, description="Text to find in sku, name or description.")
    category: str | None = Field(default=None, max_length=64)
    skus: str | None = Field(default=None, max_length=6600, description="Comma-separated skus to fetch.")
    limit: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)
    offset: int = Field(default=0, ge=0, le=1_000_000)


@dataclass
class CatalogContext:
    settings: CatalogSettings
    products: ProductRepository
    reservations: ReservationRepository
    cache: Cache
    images: ImageStorage
    reads: ProductReadCache

    def to_product(self, row: ProductRow) -> Product:
        image_url = f"{self.settings.public_image_base_url}/{row.image_name}" if row.image_name else None
        return Product(
            sku=row.sku,
            name=row.name,
            description=row.description,
            category=row.category,
            price_cents=row.price_cents,
            currency=row.currency,
            stock=row.stock,
            image_url=image_url,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def product_page(self, params: ProductListParams) -> Response:
        skus = params.skus
        sku_list = sorted({s.strip() for s in skus.split(",") if s.strip()}) if skus is not None else None
        if sku_list is not None and len(sku_list) > MAX_PAGE_SIZE:
            raise Problem(422, f"skus: at most {MAX_PAGE_SIZE} skus", type_="validation", field="skus")
        query = ProductQuery(
            q=params.q, category=params.category, skus=sku_list, limit=params.limit, offset=params.offset
        )

        async def produce() -> tuple[bytes, dict[str, int]]:
            rows, total = await self.products.search(query)
            page = ProductPage(
                items=[self.to_product(r) for r in rows], total=total, limit=params.limit, offset=params.offset
            )
            return page.model_dump_json().encode(), {r.sku: r.stock for r in rows}

        key = (
            f"{params.q}|{params.category}|{','.join(sku_list) if sku_list is not None else ''}"
            f"|{params.limit}|{params.offset}"
        )
        return Response(await self.reads.page(key, produce, self.products.stocks), media_type=JSON)

    async def reserve(self, body: ReservationRequest) -> Response:
        started = time.monotonic()
        row, created, stocks = await self.reservations.reserve(body.order_id, body.items)
        if created:
            # Only the reserved skus' stock changed: the cache keeps every product (read_cache.py).
            await self.reads.stock_changed(stocks, started)
        return Response(to_reservation(row).model_dump_json(), status_code=201 if created else 200, media_type=JSON)

    async def invalidate(self, *skus: str) -> None:
        """After an admin write: every cached product, and the stock of these skus."""
        await self.reads.invalidate_products(*skus)


def to_reservation(row: ReservationView) -> Reservation:
    return Reservation(
        order_id=row.order_id,
        status="released" if row.status == "released" else "reserved",
        items=[ReservationLine(sku=line.sku, quantity=line.quantity) for line in row.lines],
        created_at=row.created_at,
        released_at=row.released_at,
    )


def build_router(context: CatalogContext) -> APIRouter:
    router = APIRouter()
    require_admin = admin_guard(context.settings.admin_api_key)
    admin = [Depends(require_admin)]

    @router.get("/products", response_model=ProductPage, responses=PROBLEMS, tags=["products"])
    async def list_products(params: Annotated[ProductListParams, Query()]) -> Response:
        # Most requests are served by add_fast_routes()' route (see there); this one answers the rest.
        return await context.product_page(params)

    @router.get("/products/{sku}", response_model=Product, responses=PROBLEMS, tags=["products"])
    async def get_product(sku: SkuPath) -> Response:
        async def produce() -> tuple[bytes, int]:
            row = await context.products.get(sku)
            return context.to_product(row).model_dump_json().encode(), row.stock

        return Response(await context.reads.item(sku, produce, context.products.stocks), media_type=JSON)

    @router.post(
        "/products",
        status_code=201,
        response_model=Product,
        responses=ADMIN_PROBLEMS,
        dependencies=admin,
        tags=["admin"],
    )
    async def create_product(body: ProductCreate, response: Response) -> Product:
        row = await context.products.create(body)
        await context.invalidate(row.sku)
        response.headers["Location"] = f"/products/{row.sku}"
        return context.to_product(row)

    @router.patch(
        "/products/{sku}", response_model=Product, responses=ADMIN_PROBLEMS, dependencies=admin, tags=["admin"]
    )
    async def update_product(sku: SkuPath, body: ProductUpdate) -> Product:
        row = await context.products.update(sku, body)
        await context.invalidate(sku)
        return context.to_product(row)

    @router.delete("/products/{sku}", status_code=204, responses=ADMIN_PROBLEMS, dependencies=admin, tags=["admin"])
    async def delete_product(sku: SkuPath) -> Response:
        image = await context.products.delete(sku)
        await context.invalidate(sku)
        if image:
            await context.images.delete(image)
        return Response(status_code=204)

    upload_limit = context.settings.image_max_bytes

    @router.put(
        "/products/{sku}/image",
        response_model=Product,
        dependencies=admin,
        tags=["admin"],
        responses={
            **ADMIN_PROBLEMS,
            413: {"description": "Image larger than IMAGE_MAX_BYTES"},
            415: {"description": "Not a JPEG, PNG, WebP or GIF image"},
        },
        openapi_extra=IMAGE_UPLOAD_OPENAPI,
    )
    async def upload_image(sku: SkuPath, request: Request) -> Product:
        await context.products.get(sku)  # 404 before reading a large body
        data = await read_uploaded_image(request, upload_limit)
        extension = sniff_image(data, context.settings.image_max_pixels)
        name = image_name(sku, data, extension)
        await context.images.put(name, data, MEDIA_TYPES[extension])
        try:
            row, previous = await context.products.set_image(sku, name)
        except BaseException:
            await context.images.delete(name)  # nothing half-written: no image without a product
            raise
        await context.invalidate(sku)
        if previous and previous != name:
            await context.images.delete(previous)
        return context.to_product(row)

    @router.get(
        "/images/{name}",
        responses={200: {"content": {m: {} for m in MEDIA_TYPES.values()}}, 404: PROBLEMS[404]},
        response_class=Response,
        tags=["products"],
    )
    async def get_image(name: Annotated[str, Path(max_length=120)]) -> Response:
        if not IMAGE_NAME.match(name):
            raise Problem(404, f"no image named {name!r}", type_="image-not-found")
        data = await context.images.get(name)
        if data is None:
            raise Problem(404, f"no image named {name!r}", type_="image-not-found")
        return Response(
            data,
            media_type=MEDIA_TYPES[name.rsplit(".", 1)[1]],
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    @router.post(
        "/reservations",
        status_code=201,
        response_model=Reservation,
        tags=["reservations"],
        responses={
            **PROBLEMS,
            200: {"description": "This order id was reserved before with the same items", "model": Reservation},
            409: {"description": "Not enough stock (`insufficient`), or the order id has other items"},
        },
    )
    async def reserve(body: ReservationRequest) -> Response:
        # Valid requests are served by add_fast_routes()' route (see there); this one answers the rest.
        return await context.reserve(body)

    @router.get("/reservations/{order_id}", response_model=Reservation, responses=PROBLEMS, tags=["reservations"])
    async def get_reservation(order_id: OrderIdPath) -> Reservation:
        return to_reservation(await context.reservations.get(order_id))

    @router.post(
        "/reservations/{order_id}/release", response_model=Reservation, responses=PROBLEMS, tags=["reservations"]
    )
    async def release(order_id: OrderIdPath) -> Reservation:
        started = time.monotonic()
        row, released, stocks = await context.reservations.release(order_id)
        if released:
            await context.reads.stock_changed(stocks, started)
        return to_reservation(row)

    return router


async def read_uploaded_image(request: Request, max_bytes: int) -> bytes:
    """The `image` part of a multipart body, refusing bodies over the limit before reading them."""
    too_large = Problem(
        413, f"image: larger than {max_bytes} bytes", type_="image-too-large", field="image", max_bytes=max_bytes
    )
    body_limit = max_bytes + MULTIPART_OVERHEAD_BYTES
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > body_limit:
        raise too_large
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Problem(
            415, "send the image as multipart/form-data in a field named `image`", type_="unsupported-media-type"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > body_limit:
            raise too_large
        chunks.append(chunk)

    async def replay() -> AsyncGenerator[bytes, None]:
        yield b"".join(chunks)

    try:
        form = await MultiPartParser(request.headers, replay(), max_files=1, max_fields=5).parse()
    except MultiPartException as exc:
        raise Problem(422, f"image: {exc.message}", type_="validation", field="image") from None
    upload = form.get("image")
    if not isinstance(upload, UploadFile):
        raise Problem(
            422, "image: the multipart field `image` with a file is required", type_="validation", field="image"
        )
    data = await upload.read()
    await upload.close()
    if len(data) > max_bytes:
        raise too_large
    if not data:
        raise Problem(422, "image: the file is empty", type_="validation", field="image")
    return data


def add_fast_routes(app: FastAPI, context: CatalogContext) -> None:
    """orders' two calls per checkout (the price lookup and the reservation) without FastAPI's
    per-request machinery (shopfloor_common.fast_routes); the documented routes answer the rest."""

    async def list_products(request: Request, _: bytes) -> Response | None:
        query = request.query_params
        if len(query.keys()) != len(query.multi_items()):
            return None  # a parameter given twice: the documented route decides which counts
        try:
            params = ProductListParams.model_validate(dict(query))
        except ValidationError:
            return None
        return await context.product_page(params)

    async def reserve(request: Request, raw_body: bytes) -> Response | None:
        body = json_body_as(ReservationRequest, request, raw_body)
        return None if body is None else await context.reserve(body)

    add_fast_route(app, "GET", "/products", list_products)
    add_fast_route(app, "POST", "/reservations", reserve)
