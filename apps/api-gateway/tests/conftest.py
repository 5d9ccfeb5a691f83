"""Real catalog and orders stand-ins served by uvicorn on free loopback ports, and the gateway in front.

Each stub is an actual HTTP server in a background thread, so the gateway's client meets real
sockets: refused connections when it is stopped, real timeouts when it is slow, real 503s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from pydantic import BaseModel, ValidationError
from starlette.types import Receive, Scope, Send

from api_gateway.app import create_app
from api_gateway.settings import GatewaySettings
from shopfloor_common.contracts.catalog import ProductCreate
from shopfloor_common.contracts.orders import TRANSITIONS, TransitionRequest
from shopfloor_common.errors import validation_errors
from shopfloor_common.localserver import ThreadedServer

ADMIN_KEY = "stub-admin-key-0123456789"
PROBLEM_JSON = "application/problem+json"
# Deliberately not how pydantic/orjson would write it (spaces, key order), so a test can tell
# whether the gateway passed catalog's bytes through or re-serialized them.
MUG_BYTES = (
    b'{"sku": "MUG-001", "name": "Mug", "description": "A mug", "category": "kitchen", '
    b'"price_cents": 1200, "currency": "USD", "stock": 7, "image_url": null, '
    b'"created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}'
)
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
IMAGE_NAME = "MUG-001-0123456789abcdef.png"


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


def _problem(status: int, detail: str, **extensions: Any) -> tuple[int, str, bytes, dict[str, str]]:
    body = orjson.dumps({"type": "about:blank", "title": "stub", "status": status, "detail": detail, **extensions})
    return status, PROBLEM_JSON, body, {}


def _invalid(model: type[BaseModel], body: bytes) -> tuple[int, str, bytes, dict[str, str]] | None:
    """catalog's and orders' 422 for a body `model` refuses (after the key was checked), else None."""
    try:
        model.model_validate_json(body)
    except ValidationError as exc:
        errors = validation_errors([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
        return _problem(422, "invalid request", errors=errors)
    return None


class StubServer:
    """An upstream stand-in. `fail_status` makes every answer that status; `delay_seconds` makes
    every answer that late; stop() and start() take it away and bring it back on the same port."""

    admin_key = ADMIN_KEY
    name = "stub"

    def __init__(self) -> None:
        self.fail_status: int | None = None
        self.delay_seconds = 0.0
        self.requests: list[SeenRequest] = []
        self._server = ThreadedServer()
        self.port = self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> None:
        self._server.serve(self)

    @property
    def running(self) -> bool:
        return self._server.running

    def reset(self) -> None:
        self.fail_status = None
        self.delay_seconds = 0.0
        self.requests = []

    def stop(self) -> None:
        self._server.shutdown()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        seen = SeenRequest(scope["method"], scope["path"], scope["query_string"].decode(), headers, body)
        self.requests.append(seen)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        status, content_type, payload, extra = self._answer(seen)
        response_headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())]
        response_headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})

    def _answer(self, seen: SeenRequest) -> tuple[int, str, bytes, dict[str, str]]:
        if self.fail_status is not None:
            return _problem(self.fail_status, "stub told to fail")
        return self.answer(seen)

    def answer(self, seen: SeenRequest) -> tuple[int, str, bytes, dict[str, str]]:
        raise NotImplementedError


class StubCatalog(StubServer):
    """Answers like catalog."""

    name = "catalog"
    product_bytes = MUG_BYTES
    image_name = IMAGE_NAME
    image_bytes = PNG_BYTES

    def answer(self, seen: SeenRequest) -> tuple[int, str, bytes, dict[str, str]]:
        method, path = seen.method, seen.path
        if method == "GET" and path == "/products":
            page = {"items": [orjson.loads(MUG_BYTES)], "total": 1, "limit": 20, "offset": 0, "query": seen.query}
            return 200, "application/json", orjson.dumps(page), {}
        if method == "GET" and path == "/products/MUG-001":
            return 200, "application/json", MUG_BYTES, {}
        if method == "GET" and path.startswith("/products/"):
            return _problem(404, f"no product {path.rsplit('/', 1)[1]}")
        if method == "GET" and path == f"/images/{IMAGE_NAME}":
            if seen.headers.get("if-none-match") == '"v1"':
                return 304, "image/png", b"", {"etag": '"v1"'}
            return 200, "image/png", PNG_BYTES, {"cache-control": "public, max-age=31536000, immutable", "etag": '"v1"'}
        key = seen.headers.get("x-api-key")
        if key is None:
            return _problem(401, "admin key missing")
        if key != ADMIN_KEY:
            return _problem(403, "admin key wrong")
        if method == "POST" and path == "/products":
            if (refused := _invalid(ProductCreate, seen.body)) is not None:
                return refused
            sku = orjson.loads(seen.body)["sku"]
            return 201, "application/json", MUG_BYTES, {"location": f"/products/{sku}"}
        if method == "PATCH" and path.startswith("/products/"):
            return 200, "application/json", MUG_BYTES, {}
        if method == "DELETE" and path.startswith("/products/"):
            return 204, "application/json", b"", {}
        if method == "PUT" and path.endswith("/image"):
            return 200, "application/json", MUG_BYTES, {}
        return _problem(404, f"no route {method} {path}")


class StubOrders(StubServer):
    """Answers like orders, keeping what it was told in memory: the same Idempotency-Key with the
    same body gives the same order and status, with another body a 409. `pending` makes new
    orders PENDING (202), as orders answers when catalog could not be reached."""

    name = "orders"

    def __init__(self) -> None:
        super().__init__()
        self.pending = False
        self.orders: dict[str, dict[str, Any]] = {}
        self._by_key: dict[str, tuple[Any, int, str]] = {}

    def reset(self) -> None:
        super().reset()
        self.pending = False
        self.orders = {}
        self._by_key = {}

    def answer(self, seen: SeenRequest) -> tuple[int, str, bytes, dict[str, str]]:
        method, path = seen.method, seen.path
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/orders":
            return self._create(seen)
        if method == "GET" and path == "/orders":
            page = {"items": list(self.orders.values()), "total": len(self.orders), "limit": 20, "offset": 0}
            return 200, "application/json", orjson.dumps({**page, "query": seen.query}), {}
        if parts[0] != "orders" or len(parts) < 2 or parts[1] not in self.orders:
            return _problem(404, f"no order at {path}")
        order = self.orders[parts[1]]
        if method == "GET" and len(parts) == 2:
            return 200, "application/json", orjson.dumps(order), {}
        if method == "POST" and parts[2:] == ["cancel"]:
            return self._move(order, "CANCELLED")
        if method == "POST" and parts[2:] == ["transitions"]:
            key = seen.headers.get("x-api-key")
            if key is None:
                return _problem(401, "admin key missing")
            if key != ADMIN_KEY:
                return _problem(403, "admin key wrong")
            if (refused := _invalid(TransitionRequest, seen.body)) is not None:
                return refused
            return self._move(order, orjson.loads(seen.body)["to"])
        return _problem(404, f"no route {method} {path}")

    def _create(self, seen: SeenRequest) -> tuple[int, str, bytes, dict[str, str]]:
        key = seen.headers.get("idempotency-key")
        if key is None:
            return _problem(400, "Idempotency-Key missing")
        request = orjson.loads(seen.body)
        replayed = key in self._by_key
        if replayed:
            first_request, status, order_id = self._by_key[key]
            if first_request != request:
                return _problem(409, "Idempotency-Key reused with another body")
        else:
            order_id = f"ord-{len(self.orders) + 1:04d}"
            status = 202 if self.pending else 201
            lines = [
                {
                    "sku": item["sku"],
                    "name": f"Product {item['sku']}",
                    "quantity": item["quantity"],
                    "unit_price_cents": 1000,
                    "line_total_cents": 1000 * item["quantity"],
                }
                for item in request["items"]
            ]
            to_status = "PENDING" if self.pending else "CONFIRMED"
            at = "2025-01-01T00:00:00Z"
            self.orders[order_id] = {
                "id": order_id,
                "status": to_status,
                "items": lines,
                "total_cents": sum(line["line_total_cents"] for line in lines),
                "currency": "USD",
                "customer": request["customer"],
                "created_at": at,
                "updated_at": at,
                "events": [{"from_status": None, "to_status": to_status, "at": at, "reason": "", "request_id": None}],
            }
            self._by_key[key] = (request, status, order_id)
        headers = {"location": f"/orders/{order_id}"}
        if replayed:
            headers["idempotent-replayed"] = "true"
        return status, "application/json", orjson.dumps(self.orders[order_id]), headers

    def _move(self, order: dict[str, Any], to_status: str) -> tuple[int, str, bytes, dict[str, str]]:
        if order["status"] != to_status:
            allowed = sorted(TRANSITIONS[order["status"]])
            if to_status not in allowed:
                problem = {"title": "stub", "status": 409, "detail": f"{order['status']} cannot become {to_status}"}
                return 409, PROBLEM_JSON, orjson.dumps({**problem, "allowed": allowed}), {}
            order["status"] = to_status
        return 200, "application/json", orjson.dumps(order), {}


@pytest.fixture(scope="session")
def _stub_server() -> Iterator[StubCatalog]:
    catalog = StubCatalog()
    yield catalog
    catalog.stop()


@pytest.fixture
def stub(_stub_server: StubCatalog) -> StubCatalog:
    """The stub, running and answering normally; one server for the session, since starting and
    stopping uvicorn costs a fraction of a second."""
    _stub_server.reset()
    if not _stub_server.running:
        _stub_server.start()
    return _stub_server


@pytest.fixture(scope="session")
def _orders_stub_server() -> Iterator[StubOrders]:
    orders = StubOrders()
    yield orders
    orders.stop()


@pytest.fixture
def orders_stub(_orders_stub_server: StubOrders) -> StubOrders:
    """The orders stub, running, answering normally and holding no orders."""
    _orders_stub_server.reset()
    if not _orders_stub_server.running:
        _orders_stub_server.start()
    return _orders_stub_server


OpenGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def open_gateway(stub: StubCatalog, orders_stub: StubOrders) -> OpenGateway:
    """`async with open_gateway(SETTING=value, ...) as client:` the gateway app, lifespan and all,
    in front of the stubs; settings not given are pinned so the environment cannot change a test."""

    @asynccontextmanager
    async def open_(client_address: str = "127.0.0.1", **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        values: dict[str, Any] = {
            "catalog_url": stub.url,
            "orders_url": orders_stub.url,
            "access_log": False,
            "rate_limit": "off",
            "redis_url": None,
            "redis_password": None,
            "redis_ca_file": None,
            "cors_allow_origins": [],
            "upstream_timeout_seconds": 1.0,
            "orders_timeout_seconds": 1.0,
            "upstream_max_attempts": 3,
            "breaker_failure_threshold": 5,
            "breaker_reset_seconds": 5.0,
        }
        values.update({name.lower(): value for name, value in overrides.items()})
        app = create_app(GatewaySettings(**values))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=(client_address, 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                client.app = app  # type: ignore[attr-defined]
                yield client

    return open_
