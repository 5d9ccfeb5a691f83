"""Request id, Prometheus metrics and the access log, in one pure-ASGI middleware.

One middleware rather than three keeps the per-request cost low on the gateway's hot path
(BaseHTTPMiddleware-style wrappers cost far more per request).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import UTC, datetime

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopfloor_common.errors import PROBLEM_JSON, problem_body
from shopfloor_common.logs import request_id_var

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests served, by method, route template and status.", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to serve a request, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_IN_FLIGHT = Gauge("http_requests_in_flight", "Requests being served now.")

access_log = logging.getLogger("shopfloor.access")
error_log = logging.getLogger("shopfloor.errors")


def incoming_request_id(raw: bytes | None) -> str:
    """Keep a caller's request id when it is sane, otherwise mint one."""
    if raw:
        candidate = raw.decode("latin-1")
        # fullmatch, not match: "$" also matches before a trailing newline, which would let
        # "id\n" through into response headers and log lines.
        if _VALID_REQUEST_ID.fullmatch(candidate):
            return candidate
    return uuid.uuid4().hex


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else UNMATCHED_ROUTE


class ObservabilityMiddleware:
    def __init__(
        self, app: ASGIApp, *, access_log_enabled: bool = True, skip_paths: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled
        # Probes and scrapes are counted but not access-logged: they would drown the log.
        self.skip_paths = skip_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                raw_id = value
                break
        request_id = incoming_request_id(raw_id)
        token = request_id_var.set(request_id)
        status = 500
        header_value = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", header_value)]
            await send(message)

        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal response_started
            response_started = True
            await send_with_id(message)

        start = time.perf_counter()
        # Wall-clock start for the access line: its `time` is when it is written, after the answer,
        # so `time - duration_ms` drifts by whatever ran in between; a trail across services is
        # ordered by `started_at` (caller before callee, even between lines written out of order).
        started_at = time.time()
        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            # Answer here, inside the request-id context, rather than in Starlette's outermost
            # error middleware: the log line and the client's problem+json then share the id.
            error_log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if response_started:
                raise
            status = 500
            body = orjson.dumps(
                problem_body(500, "internal error; the request id identifies it in the logs", type_="internal")
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", PROBLEM_JSON.encode()),
                        (b"content-length", str(len(body)).encode()),
                        (b"x-request-id", header_value),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            HTTP_IN_FLIGHT.dec()
            elapsed = time.perf_counter() - start
            method = scope["method"]
            route = _route_template(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(elapsed)
            if self.access_log_enabled and scope["path"] not in self.skip_paths:
                access_log.info(
                    "%s %s %s",
                    method,
                    scope["path"],
                    status,
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "started_at": datetime.fromtimestamp(started_at, UTC).isoformat(),
                    },
                )
            request_id_var.reset(token)


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
