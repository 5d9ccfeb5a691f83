"""`make bench-routes`: the CPU one checkout-shaped request costs in the HTTP layer, through a
documented FastAPI route against the fast route in front of it (shopfloor_common.fast_routes),
side by side in one run (docs/performance.md, "Fast routes").

    .venv/bin/python bench/route_overhead.py [--requests 5000] [--rounds 3] [--json]

Both variants run in one app built by create_service_app (every middleware: request id, metrics,
access log off as in the bench, faults), in process, with no socket and no database: the route
answers a canned order, so what differs is only the routing, validation and serialization. The
body is orders' OrderCreate with an Idempotency-Key header; the answer its Order, as orders'
POST /orders reads and writes them. Rounds alternate the variants so drift hits both.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Header, Response
from starlette.requests import Request

from shopfloor_common.app import create_service_app
from shopfloor_common.contracts.orders import Customer, IdempotencyKey, Order, OrderCreate, OrderEvent, OrderLine
from shopfloor_common.fast_routes import add_fast_route, documented_routes_only, fast_routes, json_body_as
from shopfloor_common.settings import ServiceSettings

BODY = orjson.dumps(
    {"items": [{"sku": "BENCH-HOT", "quantity": 1}], "customer": {"name": "Bench Buyer", "email": "b@example.com"}}
)
NOW = datetime.now(UTC)
ORDER = Order(
    id="ord_bench",
    status="CONFIRMED",
    items=[OrderLine(sku="BENCH-HOT", name="Hot item", quantity=1, unit_price_cents=1200, line_total_cents=1200)],
    total_cents=1200,
    currency="USD",
    customer=Customer(name="Bench Buyer", email="b@example.com"),
    created_at=NOW,
    updated_at=NOW,
    events=[
        OrderEvent(from_status=None, to_status="PENDING", at=NOW, reason="placed", request_id="r"),
        OrderEvent(from_status="PENDING", to_status="CONFIRMED", at=NOW, reason="stock reserved", request_id="r"),
    ],
    release_pending=False,
)


def answer(_: OrderCreate) -> Response:
    return Response(ORDER.model_dump_json(), status_code=201, media_type="application/json")


def build_app() -> FastAPI:
    app = create_service_app(ServiceSettings(service_name="bench", access_log=False, environment="test"), title="b")

    @app.post("/orders", status_code=201, response_model=Order)
    async def place_order(
        body: OrderCreate, idempotency_key: Annotated[IdempotencyKey, Header(alias="Idempotency-Key")]
    ) -> Response:
        return answer(body)

    async def place_order_fast(request: Request, raw: bytes) -> Response | None:
        body = json_body_as(OrderCreate, request, raw)
        return None if body is None or "idempotency-key" not in request.headers else answer(body)

    add_fast_route(app, "POST", "/orders", place_order_fast)
    return app


async def one_request(app: FastAPI) -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/orders",
        "raw_path": b"/orders",
        "root_path": "",
        "query_string": b"",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
            (b"idempotency-key", b"bench-key-0001"),
        ],
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [201]:
        raise SystemExit(f"bench/route_overhead.py: the route answered {status}, not 201")


async def measure(app: FastAPI, requests: int) -> float:
    """CPU microseconds per request (process time: this loop is the only work)."""
    for _ in range(min(200, requests)):
        await one_request(app)
    started = time.process_time()
    for _ in range(requests):
        await one_request(app)
    return (time.process_time() - started) / requests * 1e6


async def run(requests: int, rounds: int) -> dict[str, Any]:
    app = build_app()
    [route] = fast_routes(app)
    results: dict[str, list[float]] = {"documented FastAPI route": [], "fast route": []}
    async with app.router.lifespan_context(app):
        for _ in range(rounds):
            results["fast route"].append(await measure(app, requests))
            with documented_routes_only(app):
                results["documented FastAPI route"].append(await measure(app, requests))
    served_by_fast_route = route.served
    return {"microseconds_per_request": results, "served_by_fast_route": served_by_fast_route}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per variant and round (1-1000000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the variants (1-20)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 1_000_000:
        parser.error("--requests must be 1-1000000")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be 1-20")
    figures = asyncio.run(run(args.requests, args.rounds))
    if args.json:
        print(orjson.dumps(figures).decode())
        return 0
    per_request = figures["microseconds_per_request"]
    for name, values in per_request.items():
        print(f"{name:26} " + " / ".join(f"{value:6.1f}" for value in values) + " µs CPU per request")
    ratios = [d / f for d, f in zip(per_request["documented FastAPI route"], per_request["fast route"], strict=True)]
    print(f"{'documented / fast':26} " + " / ".join(f"{ratio:6.2f}" for ratio in ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
