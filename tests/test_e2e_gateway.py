"""The gateway in front of a real catalog: catalog gone or hung -> a fast 503 problem+json, no hang;
catalog back -> the gateway recovers by itself (its circuit breaker lets a probe through)."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

UPSTREAM_TIMEOUT = 0.5
UPSTREAM_ATTEMPTS = 2
BREAKER_RESET = 1.0


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, dict[str, object], float]:
    started = time.monotonic()
    async with session.get(url) as response:
        body = await response.json(content_type=None)
        return response.status, response.content_type, body, time.monotonic() - started


async def wait_for_200(session: aiohttp.ClientSession, url: str, within: float) -> float:
    started = time.monotonic()
    while True:
        status, _, _, _ = await get(session, url)
        if status == 200:
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"{url} still {status} after {within}s"
        await asyncio.sleep(0.1)


def assert_unavailable_problem(status: int, content_type: str, body: dict[str, object]) -> None:
    assert status == 503
    assert content_type == "application/problem+json"
    assert body["status"] == 503
    assert body["type"] == "https://shopfloor.dev/problems/upstream-unavailable"
    assert "catalog" in str(body["detail"])


async def test_gateway_answers_503_fast_while_catalog_is_down_and_recovers(start_service) -> None:
    catalog = await start_service("catalog")
    gateway = await start_service(
        "api-gateway",
        env={
            "UPSTREAM_TIMEOUT_SECONDS": str(UPSTREAM_TIMEOUT),
            "UPSTREAM_MAX_ATTEMPTS": str(UPSTREAM_ATTEMPTS),
            "BREAKER_RESET_SECONDS": str(BREAKER_RESET),
            "RATE_LIMIT": "off",
        },
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        status, _, body, _ = await get(session, f"{gateway.url}/api/products/MUG-001")
        assert status == 200
        assert body["sku"] == "MUG-001"

        # Hung: the process is there and its port accepts, but nothing answers.
        catalog.process.send_signal(signal.SIGSTOP)
        try:
            status, content_type, body, took = await get(session, f"{gateway.url}/api/products/MUG-002")
        finally:
            catalog.process.send_signal(signal.SIGCONT)
        assert_unavailable_problem(status, content_type, body)
        bound = UPSTREAM_TIMEOUT * UPSTREAM_ATTEMPTS + 1.0  # the attempts' timeouts plus backoff and slack
        assert took < bound, f"a hung catalog held the gateway {took:.2f}s (bound {bound}s)"
        recovered_after_hang = await wait_for_200(session, f"{gateway.url}/api/products/MUG-002", within=10)

        # Gone: stopped, its port refuses.
        port = catalog.spec.port
        assert await catalog.process.stop(timeout_seconds=10) == 0
        for sku in ("KETTLE-01", "MUG-001"):
            status, content_type, body, took = await get(session, f"{gateway.url}/api/products/{sku}")
            assert_unavailable_problem(status, content_type, body)
            assert took < 1.0, f"a stopped catalog took the gateway {took:.2f}s to report"

        await start_service("catalog", port=port)
        recovered = await wait_for_200(session, f"{gateway.url}/api/products/KETTLE-01", within=BREAKER_RESET + 10)
    print(f"\ngateway recovered {recovered_after_hang:.1f}s after SIGCONT and {recovered:.1f}s after catalog restarted")


async def test_a_checkout_while_catalog_is_down_tells_the_client_it_is_catalog(start_service) -> None:
    # Real processes: orders answers 503 because catalog is gone; the gateway passes orders' reason on.
    catalog = await start_service("catalog")
    await start_service("orders", env={"CATALOG_TIMEOUT_SECONDS": "0.5", "CATALOG_MAX_ATTEMPTS": "1"})
    gateway = await start_service("api-gateway", env={"UPSTREAM_MAX_ATTEMPTS": "1", "RATE_LIMIT": "off"})
    assert await catalog.process.stop(timeout_seconds=10) == 0

    checkout = {"items": [{"sku": "MUG-001", "quantity": 1}], "customer": {"name": "Ada", "email": "ada@example.com"}}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        headers = {"Idempotency-Key": "catalog-down-0001"}
        async with session.post(f"{gateway.url}/api/orders", json=checkout, headers=headers) as response:
            body = await response.json(content_type=None)
            status = response.status

    assert status == 503
    assert body["upstream"] == "orders"
    assert "catalog" in str(body["upstream_detail"])
    assert "catalog" in str(body["detail"])
