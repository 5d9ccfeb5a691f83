"""The per-client rate limit: 429 problem+json past the limit, allowed again after the window,
shared across gateway instances through Redis, and never the reason a request fails."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import pytest

from api_gateway.ratelimit import client_address

if TYPE_CHECKING:
    from conftest import OpenGateway, StubCatalog

PROBLEM_JSON = "application/problem+json"


async def test_over_the_limit_is_429_then_allowed_after_the_window(
    stub: StubCatalog, open_gateway: OpenGateway
) -> None:
    async with open_gateway(RATE_LIMIT="3/second") as client:
        allowed = [await client.get("/api/products/MUG-001") for _ in range(3)]
        refused = await client.get("/api/products/MUG-001")
        probes = [await client.get(path) for path in ("/livez", "/readyz", "/metrics")]

        assert [r.status_code for r in allowed] == [200, 200, 200]
        assert refused.status_code == 429
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert refused.json()["type"].endswith("/rate-limited")
        assert refused.headers["x-request-id"]
        retry_after = int(refused.headers["retry-after"])
        assert retry_after == 1
        assert refused.headers["ratelimit-limit"] == "3"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.headers["ratelimit-policy"] == "3;w=1"
        assert len(stub.requests) == 3  # the refused request never reached catalog
        assert [r.status_code for r in probes] == [200, 200, 200]  # probes are not limited

        await asyncio.sleep(retry_after)  # the window is time itself: nothing to await but its end
        assert (await client.get("/api/products/MUG-001")).status_code == 200


async def test_clients_are_counted_separately(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    async with open_gateway(RATE_LIMIT="1/minute", client_address="10.0.0.1") as first:
        assert (await first.get("/api/products/MUG-001")).status_code == 200
        assert (await first.get("/api/products/MUG-001")).status_code == 429
    async with open_gateway(RATE_LIMIT="1/minute", client_address="10.0.0.2") as second:
        assert (await second.get("/api/products/MUG-001")).status_code == 200


@pytest.mark.redis
async def test_limit_is_shared_by_gateway_instances_through_redis(
    stub: StubCatalog, open_gateway: OpenGateway, redis_url: str
) -> None:
    async with (
        open_gateway(RATE_LIMIT="3/minute", REDIS_URL=redis_url) as pod_a,
        open_gateway(RATE_LIMIT="3/minute", REDIS_URL=redis_url) as pod_b,
    ):
        statuses = [(await pod.get("/api/products/MUG-001")).status_code for pod in (pod_a, pod_b, pod_a, pod_b)]
        refused = await pod_b.get("/api/products/MUG-001")

    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_redis_down_lets_requests_through_with_one_warning(
    stub: StubCatalog, open_gateway: OpenGateway, caplog: pytest.LogCaptureFixture, unused_tcp_port: int
) -> None:
    closed_port_url = f"redis://127.0.0.1:{unused_tcp_port}/0"
    # create_app reconfigures the root logger, so listen on the limiter's own logger
    ratelimit_log = logging.getLogger("api_gateway.ratelimit")
    ratelimit_log.addHandler(caplog.handler)
    try:
        async with open_gateway(RATE_LIMIT="2/second", REDIS_URL=closed_port_url) as client:
            statuses = [(await client.get("/api/products/MUG-001")).status_code for _ in range(5)]
    finally:
        ratelimit_log.removeHandler(caplog.handler)

    assert statuses == [200] * 5
    warnings = [r for r in caplog.records if r.name == "api_gateway.ratelimit" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "letting requests through" in warnings[0].getMessage()


def _scope(peer: str, *forwarded_for: str) -> dict[str, object]:
    return {"client": (peer, 1234), "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded_for]}


@pytest.mark.parametrize(
    ("hops", "scope", "expected"),
    [
        (0, _scope("10.1.1.1", "6.6.6.6"), "10.1.1.1"),  # no trusted proxy: the header is the client's word
        (1, _scope("10.1.1.1", "6.6.6.6, 203.0.113.9"), "203.0.113.9"),  # the balancer's entry, not the spoof
        (2, _scope("10.1.1.1", "6.6.6.6, 203.0.113.9, 10.2.2.2"), "203.0.113.9"),
        (2, _scope("10.1.1.1", "6.6.6.6", "203.0.113.9, 10.2.2.2"), "203.0.113.9"),  # repeated header lines
        (2, _scope("10.1.1.1", "10.2.2.2"), "10.1.1.1"),  # fewer entries than proxies: the socket peer
        (1, _scope("10.1.1.1"), "10.1.1.1"),
    ],
)
def test_client_address_trusts_only_the_configured_proxy_hops(
    hops: int, scope: dict[str, object], expected: str
) -> None:
    assert client_address(scope, hops) == expected
