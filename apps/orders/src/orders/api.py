"""The orders HTTP routes (internal: api-gateway publishes them under /api/orders)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Response
from pydantic import TypeAdapter
from starlette.requests import Request

from orders.models import OrderView
from orders.service import OrderService
from orders.settings import OrdersSettings
from shopfloor_common.auth import admin_guard
from shopfloor_common.contracts.catalog import MAX_PAGE_SIZE
from shopfloor_common.contracts.orders import (
    Customer,
    IdempotencyKey,
    Order,
    OrderCreate,
    OrderEvent,
    OrderLine,
    OrderPage,
    OrderStatus,
    TransitionRequest,
)
from shopfloor_common.fast_routes import add_fast_route, json_body_as, valid_as

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"

OrderIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The order's id.")]
IDEMPOTENCY_KEY = TypeAdapter(IdempotencyKey)
IdempotencyKeyHeader = Annotated[
    IdempotencyKey,
    Header(
        alias=IDEMPOTENCY_KEY_HEADER,
        description="A key the client makes up per order (a UUID will do; 8-128 of A-Z a-z 0-9 _ . : -) and sends "
        "again when it retries: "
        "the same key with the same body returns the same order and reserves nothing more.",
    ),
]

# Error responses need only a description: create_service_app documents every 4xx/5xx as
# application/problem+json (shopfloor_common.errors.document_problems).
INVALID: dict[int | str, dict[str, Any]] = {422: {"description": "Invalid input; `errors` names each field"}}
PROBLEMS: dict[int | str, dict[str, Any]] = {**INVALID, 404: {"description": "No such order"}}


def to_order(row: OrderView) -> Order:
    return Order(
        id=row.id,
        status=row.status,
        items=[
            OrderLine(
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price_cents=line.unit_price_cents,
                line_total_cents=line.line_total_cents,
            )
            for line in row.lines
        ],
        total_cents=row.total_cents,
        currency=row.currency,
        customer=Customer(name=row.customer_name, email=row.customer_email, address=row.customer_address),
        created_at=row.created_at,
        updated_at=row.updated_at,
        events=[
            OrderEvent(
                from_status=event.from_status,
                to_status=event.to_status,
                at=event.at,
                reason=event.reason,
                request_id=event.request_id,
            )
            for event in row.events
        ],
        release_pending=row.release_pending,
    )


def build_router(service: OrderService, settings: OrdersSettings) -> APIRouter:
    router = APIRouter(tags=["orders"])
    require_admin = admin_guard(settings.admin_api_key)

    @router.post(
        "/orders",
        status_code=201,
        response_model=Order,
        summary="Place an order (checkout)",
        description="Prices come from catalog now; stock is reserved at catalog. 201: the order, CONFIRMED or "
        "REJECTED (the REJECTED event's reason names the skus short of stock). 202: catalog did not answer the "
        "reservation in time; the order is PENDING and will be finished by the reconciler (poll its Location). "
        "A retry with the same Idempotency-Key and body answers the same order (header Idempotent-Replayed).",
        responses={
            202: {"description": "Accepted as PENDING: catalog did not answer the reservation", "model": Order},
            409: {"description": "The Idempotency-Key was used with another body"},
            422: {"description": "Invalid input, unknown sku, mixed currencies, missing Idempotency-Key"},
            503: {"description": "catalog is unavailable for the price lookup; no order was created"},
        },
    )
    async def place_order(body: OrderCreate, idempotency_key: IdempotencyKeyHeader) -> Response:
        # Valid requests are served by add_fast_routes()' route (see there); this one answers the rest.
        return await place(service, idempotency_key, body)

    @router.get("/orders", response_model=OrderPage, responses=INVALID, summary="List orders, newest first")
    async def list_orders(
        status: Annotated[OrderStatus | None, Query(description="Only orders in this status.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> OrderPage:
        rows, total = await service.orders.page(status, limit, offset)
        return OrderPage(items=[to_order(row) for row in rows], total=total, limit=limit, offset=offset)

    @router.get("/orders/{order_id}", response_model=Order, responses=PROBLEMS, summary="One order with its history")
    async def get_order(order_id: OrderIdPath) -> Order:
        return to_order(await service.orders.get(order_id))

    @router.post(
        "/orders/{order_id}/cancel",
        response_model=Order,
        summary="Cancel an order and give its stock back",
        description="Allowed from PENDING, CONFIRMED and PAID. Cancelling a CANCELLED order answers it again and "
        "releases nothing more. `release_pending` stays true until catalog confirms the stock is back.",
        responses={**PROBLEMS, 409: {"description": "Not cancellable from its status; `allowed` lists"}},
    )
    async def cancel_order(order_id: OrderIdPath) -> Order:
        return to_order(await service.cancel(order_id))

    @router.post(
        "/orders/{order_id}/transitions",
        response_model=Order,
        dependencies=[Depends(require_admin)],
        tags=["admin"],
        summary="Admin: move an order along its lifecycle (PAID, SHIPPED, DELIVERED, CANCELLED)",
        description="Asking for the status the order has already changes nothing (200). CONFIRMED and REJECTED "
        "are catalog's answer to the reservation and cannot be set by hand.",
        responses={
            **PROBLEMS,
            401: {"description": "X-API-Key missing"},
            403: {"description": "X-API-Key wrong"},
            409: {"description": "Not allowed from the order's status; `allowed` lists what is"},
        },
    )
    async def move_order(order_id: OrderIdPath, body: TransitionRequest) -> Order:
        reason = body.reason or f"set to {body.to} by an admin"
        return to_order(await service.transition(order_id, body.to, reason))

    return router


async def place(service: OrderService, idempotency_key: str, body: OrderCreate) -> Response:
    placement = await service.place(idempotency_key, body)
    row = placement.row
    headers = {"Location": f"/orders/{row.id}"}
    if placement.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        to_order(row).model_dump_json(),
        status_code=202 if row.status == "PENDING" else 201,
        media_type="application/json",
        headers=headers,
    )


def add_fast_routes(app: FastAPI, service: OrderService) -> None:
    """Checkout without FastAPI's per-request machinery (shopfloor_common.fast_routes): every
    checkout passes here, and the documented route above answers whatever this one leaves."""

    async def place_order(request: Request, raw_body: bytes) -> Response | None:
        key = valid_as(IDEMPOTENCY_KEY, request.headers.get(IDEMPOTENCY_KEY_HEADER))
        body = json_body_as(OrderCreate, request, raw_body)
        if key is None or body is None:
            return None
        return await place(service, key, body)

    add_fast_route(app, "POST", "/orders", place_order)
