"""Hot routes answered without FastAPI's per-request machinery; the documented route answers the rest.

On every request FastAPI solves the route's dependencies, validates parameters one by one and
validates the returned model again. Measured in-process (`make bench-routes`, bench/route_overhead.py,
2026-12-01): a checkout-shaped POST costs 141-144 µs of CPU through a FastAPI route and 50-52 µs
through a plain Starlette route validating the same body with the same pydantic model (2.8x), with
every middleware of create_service_app in both; a checkout crosses four such routes (gateway,
orders, catalog twice).

A fast route takes a request only when it can tell with the contract's own models that the
request is valid; every other request (a missing header, a body that fails validation, another
content type) goes, with its body replayed, to the documented FastAPI route behind it. So errors
and the OpenAPI document stay the documented route's, and both routes call the same function with
the same validated values; that the two agree on what is valid (FastAPI parses JSON with the
standard library and validates in Python mode, a fast route with pydantic's JSON mode) is what
each service's parity test checks, valid and invalid requests alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Message, Receive, Scope, Send

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")

# The handler's answer, or None: not a request it takes (the documented route answers it).
FastHandler = Callable[[Request, bytes], Awaitable[Response | None]]

_DECLINED = "shopfloor.fast_route_declined"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class FastRoute(Route):
    """`handler` for `method path`, in front of the documented route of the same method and path."""

    def __init__(self, method: str, path: str, handler: FastHandler, app: FastAPI) -> None:
        super().__init__(path, self._unused, methods=[method], include_in_schema=False)
        self.method = method
        self.handler = handler
        self._router = app.router
        # Requests this route answered and those it left to the documented route (for tests:
        # parity is only shown when both paths were taken).
        self.served = 0
        self.declined = 0

    @staticmethod
    async def _unused(request: Request) -> Response:  # pragma: no cover - handle() never calls it
        raise AssertionError("FastRoute.handle serves requests")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get(_DECLINED) is self:
            return Match.NONE, {}
        return super().matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != self.method:  # a 405 (or another route) is the documented router's answer
            await self._decline(scope, receive, send, None)
            return
        # FastAPI's router sets scope["route"] only for its own routes; the metrics and the access
        # log take the route template from it (else the request counts as <unmatched>).
        scope["route"] = self
        request = Request(scope, receive)
        body = await request.body() if self.method in _BODY_METHODS else b""
        try:
            response = await self.handler(request, body)
        except Exception:
            self.served += 1  # a Problem it raised is its answer, as the exception handlers render it
            raise
        if response is None:
            await self._decline(scope, receive, send, body if self.method in _BODY_METHODS else None)
            return
        self.served += 1
        await response(scope, receive, send)

    async def _decline(self, scope: Scope, receive: Receive, send: Send, body: bytes | None) -> None:
        self.declined += 1
        scope[_DECLINED] = self
        if body is None:
            await self._router(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # a disconnect, as the documented route would have seen
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self._router(scope, replay, send)


def add_fast_route(app: FastAPI, method: str, path: str, handler: FastHandler) -> FastRoute:
    """Serve the requests `handler` takes ahead of the documented `method path` route of `app`.
    Call it after the documented route is added; the documented route stays in the OpenAPI
    document and answers every request the handler leaves (returns None for)."""
    route = FastRoute(method, path, handler, app)
    app.router.routes.insert(0, route)
    return route


def is_json(request: Request) -> bool:
    """Whether the body is declared plain JSON, the one content type a fast route parses itself
    (FastAPI also reads +json types as JSON, and refuses a missing type with its strict content
    type check: both go to the documented route, as the orders parity test shows)."""
    content_type = request.headers.get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def fast_routes(app: FastAPI) -> list[FastRoute]:
    return [route for route in app.router.routes if isinstance(route, FastRoute)]


@contextmanager
def documented_routes_only(app: FastAPI) -> Iterator[None]:
    """Within the block `app` answers with its documented routes alone (for parity tests)."""
    removed = fast_routes(app)
    app.router.routes[:] = [route for route in app.router.routes if not isinstance(route, FastRoute)]
    try:
        yield
    finally:
        app.router.routes[0:0] = removed


def json_body_as(model: type[ModelT], request: Request, body: bytes) -> ModelT | None:
    """The body as `model` when it is declared plain JSON and valid; None otherwise (the documented
    route then answers, with its own 415/422)."""
    if not is_json(request):
        return None
    try:
        return model.model_validate_json(body)
    except ValidationError:
        return None


def valid_as(adapter: TypeAdapter[T], value: str | None) -> T | None:
    """`value` (a header, a query or path parameter) validated as the documented route declares it, or None."""
    if value is None:
        return None
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def parity_view(
    status: int, headers: Mapping[str, str], body: bytes, volatile: frozenset[str], header_names: Iterable[str] = ()
) -> tuple[int, str, dict[str, str | None], Any]:
    """An answer as parity tests compare it: status, content type, the named headers and the JSON
    body without the fields that differ between any two requests (ids, times, request ids)."""

    def without_volatile(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: without_volatile(item) for key, item in value.items() if key not in volatile}
        if isinstance(value, list):
            return [without_volatile(item) for item in value]
        return value

    named = {name: headers.get(name) for name in header_names}
    return status, headers.get("content-type", ""), named, without_volatile(orjson.loads(body) if body else None)
