"""Forwarding a request to an upstream service and its answer back, without re-encoding either.

Upstream answers below 500 are passed through as they are (the services' errors are already
problem+json). An upstream that cannot answer becomes a 503 naming it, and one that fails with
a 500 becomes a 502: the fault is behind the gateway, and a client may retry a 503 later.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from shopfloor_common.client import ServiceClient, UpstreamResponse, UpstreamUnavailable
from shopfloor_common.errors import Problem

log = logging.getLogger("api_gateway.proxy")

# Raw names as they appear in an ASGI scope; accept-encoding is the client's own or "identity":
# the client is built with auto_decompress=False so bodies pass through untouched, and without
# this aiohttp would ask for gzip on behalf of a client that may not read it.
FORWARDED_REQUEST_HEADERS = {
    name.encode(): name
    for name in (
        "x-api-key",
        "content-type",
        "accept-encoding",
        "idempotency-key",
        "if-none-match",
        "if-modified-since",
    )
}
PASSED_RESPONSE_HEADERS = (
    "content-type",
    "content-encoding",
    "cache-control",
    "etag",
    "last-modified",
    "location",
    "retry-after",
    "www-authenticate",
    "vary",
    "idempotent-replayed",  # orders: this answer repeats the one a checkout with the same key got
)


def forwarded_headers(request: Request) -> dict[str, str]:
    """The request headers the upstreams need; one pass over the raw list, since this is on every request."""
    headers = {"accept-encoding": "identity"}
    for raw_name, raw_value in request.scope["headers"]:
        name = FORWARDED_REQUEST_HEADERS.get(raw_name)
        if name is not None:
            headers[name] = raw_value.decode("latin-1")
    return headers


class UpstreamProxy:
    def __init__(self, client: ServiceClient, public_prefix: str) -> None:
        self.client = client
        self.public_prefix = public_prefix

    async def forward(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        params: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        idempotent: bool | None = None,
    ) -> Response:
        try:
            upstream = await self.client.request(
                method, path, params=params, data=body, headers=headers, idempotent=idempotent
            )
        except UpstreamUnavailable as exc:
            raise self._unavailable(exc) from None
        if upstream.status >= 500:
            log.warning(
                "%s answered %s to %s %s: %s", self.client.name, upstream.status, method, path, upstream.body[:500]
            )
            raise Problem(
                502,
                f"{self.client.name} failed to answer (status {upstream.status})",
                type_="upstream-error",
                upstream=self.client.name,
            )
        return Response(upstream.body, status_code=upstream.status, headers=self._response_headers(upstream))

    def _response_headers(self, upstream: UpstreamResponse) -> dict[str, str]:
        headers = {name: value for name in PASSED_RESPONSE_HEADERS if (value := upstream.headers.get(name)) is not None}
        location = headers.get("location")
        if location is not None and location.startswith("/"):
            # The upstream's paths are the public ones without the gateway's prefix.
            headers["location"] = self.public_prefix + location
        return headers

    def _unavailable(self, exc: UpstreamUnavailable) -> Problem:
        # "ClientConnectorError: Cannot connect to host 10.0.3.7:8081 ..." -> "ClientConnectorError":
        # the full reason (with internal addresses) goes to the log, the kind of failure to the client.
        public_reason = exc.reason.partition(": ")[0]
        circuit_open = self.client.breaker.state != "closed"
        # Once the circuit is open the breaker has said so; a line per refused request would flood the log.
        log.log(logging.DEBUG if circuit_open else logging.WARNING, "%s unavailable: %s", exc.upstream, exc.reason)
        retry_after = math.ceil(self.client.policy.breaker_reset_seconds) if circuit_open else 1
        extensions: dict[str, Any] = {"upstream": exc.upstream, "reason": public_reason}
        detail = f"{exc.upstream} is unavailable: {public_reason}"
        # An upstream that answered 503 with a reason of its own (orders: "catalog is unavailable")
        # has said what the client needs to know; pass it on rather than hide it.
        upstream_detail = exc.upstream_detail()
        if upstream_detail is not None:
            extensions["upstream_detail"] = upstream_detail[:500]
            detail = f"{detail} ({upstream_detail[:500]})"
        return Problem(
            503,
            detail,
            type_="upstream-unavailable",
            title="Upstream unavailable",
            headers={"Retry-After": str(retry_after)},
            **extensions,
        )
