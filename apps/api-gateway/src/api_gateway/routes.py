"""The public API under /api: products forwarded to catalog, orders forwarded to orders.

Input is validated here with the shared contract models, so a bad request is a 422 naming the
field without a trip upstream and the OpenAPI document shows the bodies; what is forwarded is
the client's own bytes. Answers are the upstream's bytes, never parsed and re-serialized: the
product read is the hot path.

Order lines are not enriched with catalog data here: orders snapshots each line's product name
(with its price) when the order is placed, so the name is already in the answer, it is the name
the customer bought under, and an order stays readable while catalog is down. Looking names up
again would cost a catalog call per order read and could only show a name the order never had.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Path, Query, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import TypeAdapter
from starlette.responses import Response

from api_gateway.proxy import UpstreamProxy, forwarded_headers
from shopfloor_common.auth import ADMIN_KEY_HEADER, BEFORE_VALIDATION, check_admin_key
from shopfloor_common.contracts.catalog import (
    IMAGE_UPLOAD_OPENAPI,
    MAX_PAGE_SIZE,
    OrderId,
    Product,
    ProductCreate,
    ProductPage,
    ProductUpdate,
    Sku,
)
from shopfloor_common.contracts.orders import (
    IdempotencyKey,
    Order,
    OrderCreate,
    OrderPage,
    OrderStatus,
    TransitionRequest,
)
from shopfloor_common.errors import Problem
from shopfloor_common.fast_routes import add_fast_route, json_body_as, valid_as

API_PREFIX = "/api"

# Loose on purpose: catalog owns its image naming and answers 404 for names it never made; the
# gateway only keeps path tricks ("..", "/", odd bytes) out of the upstream URL.
ImageNamePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$", description="An image_url's name.")]

# Documents the header for the OpenAPI "Authorize" button; catalog, which holds ADMIN_API_KEY, decides.
admin_key = APIKeyHeader(
    name=ADMIN_KEY_HEADER, auto_error=False, scheme_name="AdminKey", description="The ADMIN_API_KEY of the deployment."
)


def admin_route(upstream: UpstreamProxy) -> Callable[[str | None], None]:
    """The dependency of an admin route: documents the key; `upstream` (which holds ADMIN_API_KEY)
    decides. Authentication before validation (shopfloor_common.auth): without a key the answer
    is 401 whatever the body; with a key and a body that fails validation (and nothing else
    wrong: the path never reaches the upstream unvalidated) the raw request goes to the upstream,
    which checks the key first (403) and then the body (422). The gateway holds no admin key, so
    it cannot say "wrong key" itself."""

    def admin(x_api_key: str | None = Security(admin_key)) -> None:
        return None

    async def before_validation(request: Request, errors: Sequence[Any]) -> Response | None:
        check_admin_key(request.headers.get(ADMIN_KEY_HEADER), None)
        if not errors or any(tuple(error.get("loc", ()))[:1] != ("body",) for error in errors):
            return None
        return await upstream.forward(
            request.method,
            request.url.path.removeprefix(API_PREFIX),
            params=list(request.query_params.multi_items()),
            body=await request.body(),
            headers=_json_headers(request),
        )

    setattr(admin, BEFORE_VALIDATION, before_validation)
    return admin


def _problem(description: str) -> dict[str, Any]:
    # The content (application/problem+json, ProblemDetails) is filled in for every 4xx/5xx by
    # create_service_app (shopfloor_common.errors.document_problems).
    return {"description": description}


READ_PROBLEMS: dict[int | str, dict[str, Any]] = {
    422: _problem("Invalid input; `errors` names each field"),
    429: _problem("Too many requests from this client; see Retry-After"),
    502: _problem("catalog failed to answer"),
    503: _problem("catalog is unavailable; see Retry-After"),
}
ITEM_PROBLEMS = {**READ_PROBLEMS, 404: _problem("No such product")}
ADMIN_PROBLEMS = {
    **ITEM_PROBLEMS,
    401: _problem("X-API-Key missing"),
    403: _problem("X-API-Key wrong"),
}


def _json_response(model: type[Any], description: str) -> dict[str, Any]:
    return {"model": model, "description": description}


def products_router(catalog: UpstreamProxy, image_upload_max_bytes: int) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    admin = [Security(admin_route(catalog))]

    @router.get(
        "/products",
        tags=["products"],
        summary="List products",
        responses={200: _json_response(ProductPage, "One page of products"), **READ_PROBLEMS},
    )
    async def list_products(
        request: Request,
        q: Annotated[str | None, Query(max_length=200, description="Text to find in sku, name or description.")] = None,
        category: Annotated[str | None, Query(max_length=64, description="Only this category.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 20,
        offset: Annotated[int, Query(ge=0, le=1_000_000, description="Products to skip.")] = 0,
    ) -> Response:
        params = [("limit", str(limit)), ("offset", str(offset))]
        if q is not None:
            params.append(("q", q))
        if category is not None:
            params.append(("category", category))
        return await catalog.forward("GET", "/products", params=params, headers=forwarded_headers(request))

    @router.get(
        "/products/{sku}",
        tags=["products"],
        summary="Get one product",
        responses={200: _json_response(Product, "The product"), **ITEM_PROBLEMS},
    )
    async def get_product(sku: Sku, request: Request) -> Response:
        # Valid requests are served by add_fast_routes()' route (see there); this one answers the rest.
        return await catalog.forward("GET", f"/products/{sku}", headers=forwarded_headers(request))

    @router.post(
        "/products",
        tags=["admin"],
        dependencies=admin,
        summary="Create a product",
        status_code=201,
        responses={
            201: _json_response(Product, "Created; Location names it"),
            **ADMIN_PROBLEMS,
            409: _problem("sku taken"),
        },
    )
    async def create_product(product: ProductCreate, request: Request) -> Response:
        return await catalog.forward("POST", "/products", body=await request.body(), headers=_json_headers(request))

    @router.patch(
        "/products/{sku}",
        tags=["admin"],
        dependencies=admin,
        summary="Change some fields of a product",
        responses={200: _json_response(Product, "The product as changed"), **ADMIN_PROBLEMS},
    )
    async def update_product(
        sku: Sku,
        changes: ProductUpdate,
        request: Request,
    ) -> Response:
        # Setting fields to given values is idempotent, so a timed-out PATCH may be retried.
        return await catalog.forward(
            "PATCH", f"/products/{sku}", body=await request.body(), headers=_json_headers(request), idempotent=True
        )

    @router.delete(
        "/products/{sku}",
        tags=["admin"],
        dependencies=admin,
        summary="Delete a product and its image",
        status_code=204,
        responses={204: {"description": "Deleted"}, **ADMIN_PROBLEMS},
    )
    async def delete_product(sku: Sku, request: Request) -> Response:
        return await catalog.forward("DELETE", f"/products/{sku}", headers=forwarded_headers(request))

    @router.put(
        "/products/{sku}/image",
        tags=["admin"],
        dependencies=admin,
        summary="Set a product's image",
        responses={
            200: _json_response(Product, "The product with its new image_url"),
            **ADMIN_PROBLEMS,
            413: _problem("Image too large"),
            415: _problem("Not a JPEG, PNG, WebP or GIF image"),
        },
        openapi_extra=IMAGE_UPLOAD_OPENAPI,
    )
    async def upload_image(sku: Sku, request: Request) -> Response:
        body = await read_capped_body(request, image_upload_max_bytes)
        return await catalog.forward("PUT", f"/products/{sku}/image", body=body, headers=forwarded_headers(request))

    @router.get(
        "/images/{name}",
        tags=["products"],
        summary="A product image",
        responses={
            200: {
                "description": "The image",
                "content": {t: {} for t in ("image/jpeg", "image/png", "image/webp", "image/gif")},
            },
            304: {"description": "Not modified (If-None-Match matched)"},
            **{**READ_PROBLEMS, 404: _problem("No such image")},
        },
    )
    async def get_image(name: ImageNamePath, request: Request) -> Response:
        return await catalog.forward("GET", f"/images/{name}", headers=forwarded_headers(request))

    return router


OrderIdPath = Annotated[OrderId, Path(description="The order's id, as `POST /api/orders` returned it.")]
IdempotencyKeyHeader = Annotated[
    IdempotencyKey,
    Header(
        alias="Idempotency-Key",
        description="A key the client makes up per checkout (a UUID, say) and sends again with every retry of "
        "it: the same key with the same body gives the same order, never a second one.",
    ),
]


def _order_problems() -> dict[int | str, dict[str, Any]]:
    return {
        422: _problem("Invalid input; `errors` names each field"),
        429: _problem("Too many requests from this client; see Retry-After"),
        502: _problem("orders failed to answer"),
        503: _problem("orders is unavailable; see Retry-After"),
    }


def orders_router(orders: UpstreamProxy) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    admin = [Security(admin_route(orders))]
    problems = _order_problems()
    item_problems = {**problems, 404: _problem("No such order")}

    @router.post(
        "/orders",
        tags=["orders"],
        summary="Place an order (checkout)",
        status_code=201,
        responses={
            201: _json_response(Order, "Placed: CONFIRMED (stock reserved) or REJECTED (not enough stock)"),
            202: _json_response(Order, "Accepted as PENDING: stock could not be reserved yet and will be"),
            **problems,
            409: _problem("This Idempotency-Key was used with another body"),
        },
    )
    async def create_order(order: OrderCreate, idempotency_key: IdempotencyKeyHeader, request: Request) -> Response:
        # Valid requests are served by add_fast_routes()' route (see there); this one answers the rest.
        return await forward_checkout(orders, request, await request.body())

    @router.get(
        "/orders",
        tags=["orders"],
        summary="List orders",
        responses={200: _json_response(OrderPage, "One page of orders"), **problems},
    )
    async def list_orders(
        request: Request,
        status: Annotated[OrderStatus | None, Query(description="Only orders in this status.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 20,
        offset: Annotated[int, Query(ge=0, le=1_000_000, description="Orders to skip.")] = 0,
    ) -> Response:
        params = [("limit", str(limit)), ("offset", str(offset))]
        if status is not None:
            params.append(("status", status))
        return await orders.forward("GET", "/orders", params=params, headers=forwarded_headers(request))

    @router.get(
        "/orders/{order_id}",
        tags=["orders"],
        summary="Get one order with its history",
        responses={200: _json_response(Order, "The order, its lines and every status change"), **item_problems},
    )
    async def get_order(order_id: OrderIdPath, request: Request) -> Response:
        return await orders.forward("GET", f"/orders/{order_id}", headers=forwarded_headers(request))

    @router.post(
        "/orders/{order_id}/cancel",
        tags=["orders"],
        summary="Cancel an order and release its stock",
        responses={
            200: _json_response(Order, "The order, CANCELLED (also when it already was)"),
            **item_problems,
            409: _problem("The order is past cancelling; `allowed` lists where it can go"),
        },
    )
    async def cancel_order(order_id: OrderIdPath, request: Request) -> Response:
        # Cancelling a cancelled order answers the order again, so a retry cannot release twice.
        return await orders.forward(
            "POST", f"/orders/{order_id}/cancel", headers=forwarded_headers(request), idempotent=True
        )

    @router.post(
        "/orders/{order_id}/transitions",
        tags=["admin"],
        dependencies=admin,
        summary="Move an order along its lifecycle",
        responses={
            200: _json_response(Order, "The order in its new status"),
            **item_problems,
            401: _problem("X-API-Key missing"),
            403: _problem("X-API-Key wrong"),
            409: _problem("Not allowed from the current status; `allowed` lists where it can go"),
        },
    )
    async def transition_order(order_id: OrderIdPath, transition: TransitionRequest, request: Request) -> Response:
        # Not retried: a repeat of a transition that went through would be refused as invalid
        # from the new status, and the client would read that as a failure.
        return await orders.forward(
            "POST", f"/orders/{order_id}/transitions", body=await request.body(), headers=_json_headers(request)
        )

    return router


def _json_headers(request: Request) -> dict[str, str]:
    headers = forwarded_headers(request)
    headers.setdefault("content-type", "application/json")  # FastAPI read it as JSON, so it was
    return headers


async def read_capped_body(request: Request, max_bytes: int) -> bytes:
    """The request body, or a 413 as soon as it is known to be larger than `max_bytes`: from
    Content-Length before reading anything, else while it streams in."""

    def too_large() -> Problem:
        return Problem(
            413,
            f"the upload is larger than {max_bytes} bytes",
            type_="payload-too-large",
            errors=[{"field": "image", "in": "body", "message": f"at most {max_bytes} bytes"}],
        )

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large()
    return bytes(body)


async def forward_checkout(orders: UpstreamProxy, request: Request, body: bytes) -> Response:
    # The key makes a repeat harmless (orders answers it with the order it already made), so a
    # checkout lost to a timeout or a 503 is retried here rather than left to the client.
    return await orders.forward("POST", "/orders", body=body, headers=_json_headers(request), idempotent=True)


SKU = TypeAdapter(Sku)
IDEMPOTENCY_KEY = TypeAdapter(IdempotencyKey)


def add_fast_routes(app: FastAPI, catalog: UpstreamProxy, orders: UpstreamProxy) -> None:
    """The product read and the checkout without FastAPI's per-request machinery
    (shopfloor_common.fast_routes); the documented routes answer whatever these leave.

    The product read is the busiest route of the shop: measured side by side on this 2-core
    machine, FastAPI's per-request machinery took the gateway from ~1,280 to ~770 req/s on it,
    below the 0.40 gateway/direct target (docs/performance.md)."""

    async def read_product(request: Request, _: bytes) -> Response | None:
        sku = valid_as(SKU, request.path_params["sku"])
        if sku is None:
            return None
        return await catalog.forward("GET", f"/products/{sku}", headers=forwarded_headers(request))

    async def create_order(request: Request, body: bytes) -> Response | None:
        if valid_as(IDEMPOTENCY_KEY, request.headers.get("idempotency-key")) is None:
            return None
        if json_body_as(OrderCreate, request, body) is None:
            return None
        return await forward_checkout(orders, request, body)

    add_fast_route(app, "GET", f"{API_PREFIX}/products/{{sku}}", read_product)
    add_fast_route(app, "POST", f"{API_PREFIX}/orders", create_order)
