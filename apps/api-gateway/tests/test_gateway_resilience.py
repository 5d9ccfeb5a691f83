"""Catalog down, slow or failing: the gateway answers 503 problem+json in bounded time, never hangs,
and recovers by itself when catalog is back."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import OpenGateway, StubCatalog

PROBLEM_JSON = "application/problem+json"
# The client's backoff between attempts is at most 0.5 s (ClientPolicy.backoff_max_seconds).
BACKOFF_ALLOWANCE_SECONDS = 0.5


async def test_catalog_stopped_gives_503_in_time_then_recovers_through_half_open_breaker(
    stub: StubCatalog, open_gateway: OpenGateway
) -> None:
    timeout, attempts, reset = 0.5, 3, 0.3
    async with open_gateway(
        UPSTREAM_TIMEOUT_SECONDS=timeout,
        UPSTREAM_MAX_ATTEMPTS=attempts,
        BREAKER_FAILURE_THRESHOLD=2,
        BREAKER_RESET_SECONDS=reset,
    ) as client:
        assert (await client.get("/api/products/MUG-001")).status_code == 200
        stub.stop()

        started = time.monotonic()
        down = await client.get("/api/products/MUG-001")
        elapsed = time.monotonic() - started

        assert down.status_code == 503
        assert elapsed < timeout * attempts + (attempts - 1) * BACKOFF_ALLOWANCE_SECONDS
        assert down.headers["content-type"] == PROBLEM_JSON
        assert int(down.headers["retry-after"]) >= 1
        problem = down.json()
        assert problem["type"].endswith("/upstream-unavailable")
        assert problem["upstream"] == "catalog"
        assert "catalog" in problem["detail"]
        assert "127.0.0.1" not in down.text  # internal addresses stay in the log

        open_circuit = await client.get("/api/products/MUG-001")
        assert open_circuit.status_code == 503
        assert "circuit open" in open_circuit.json()["reason"]

        stub.start()
        recovered_after = time.monotonic()
        deadline = recovered_after + reset + 3.0
        while (status := (await client.get("/api/products/MUG-001")).status_code) != 200:
            assert status == 503
            assert time.monotonic() < deadline, "the gateway did not recover after catalog came back"
            await asyncio.sleep(0.05)


async def test_slow_catalog_gives_503_not_a_hang(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    timeout, attempts = 0.3, 2
    stub.delay_seconds = 3.0
    async with open_gateway(UPSTREAM_TIMEOUT_SECONDS=timeout, UPSTREAM_MAX_ATTEMPTS=attempts) as client:
        started = time.monotonic()
        response = await client.get("/api/products/MUG-001")
        elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json()["reason"].startswith("no answer within")
    # well under the stub's 3 s: the gateway gave up on its own timeout, catalog never answered
    assert timeout * attempts <= elapsed < timeout * attempts + BACKOFF_ALLOWANCE_SECONDS + 0.9
    assert len(stub.requests) == attempts  # an idempotent read was retried


async def test_slow_write_is_tried_once(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    stub.delay_seconds = 3.0
    async with open_gateway(UPSTREAM_TIMEOUT_SECONDS=0.3, UPSTREAM_MAX_ATTEMPTS=3) as client:
        response = await client.post(
            "/api/products",
            json={"sku": "LAMP-9", "name": "Lamp", "category": "home", "price_cents": 1},
            headers={"X-API-Key": stub.admin_key},
        )

    assert response.status_code == 503
    assert len(stub.requests) == 1  # a create is not repeated behind the client's back


async def test_a_create_answered_503_is_tried_once(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    """A 503 does not prove the product was not created: a repeat could meet its own first try as a 409."""
    stub.fail_status = 503
    async with open_gateway(UPSTREAM_MAX_ATTEMPTS=3) as client:
        response = await client.post(
            "/api/products",
            json={"sku": "LAMP-9", "name": "Lamp", "category": "home", "price_cents": 1},
            headers={"X-API-Key": stub.admin_key},
        )

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["reason"] == "answered 503"
    assert [(seen.method, seen.path) for seen in stub.requests] == [("POST", "/products")]


async def test_catalog_answering_503_gives_503_problem_after_retries(
    stub: StubCatalog, open_gateway: OpenGateway
) -> None:
    stub.fail_status = 503
    async with open_gateway(UPSTREAM_MAX_ATTEMPTS=2) as client:
        response = await client.get("/api/products?limit=5")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["reason"] == "answered 503"
    assert len(stub.requests) == 2


async def test_readiness_does_not_follow_catalog(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        stub.stop()
        ready = await client.get("/readyz")
        live = await client.get("/livez")

    assert ready.status_code == 200
    assert live.status_code == 200
