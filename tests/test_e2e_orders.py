"""Checkout through the real gateway, orders and catalog: a retried checkout makes one order and one
reservation, and a `kill -9` of orders in the middle of a stream of checkouts loses nothing,
doubles nothing and leaves no order PENDING once the restarted reconciler has had its period.

The second test is the issue's crash acceptance, judged by the same check chaos experiments run
(`shopfloor check-consistency`): for every product, initial stock = stock + units held by
CONFIRMED/PAID/SHIPPED/DELIVERED orders, and every order a client was answered 201/202 for
exists exactly once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from shopfloor.measure.check_consistency import Endpoints, check_consistency, take_snapshot

from .conftest import ADMIN_KEY, Lines, StartService

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

RECONCILE_INTERVAL_SECONDS = 1.0
PENDING_TIMEOUT_SECONDS = 1.0
# A checkout waits at most CATALOG_TIMEOUT_SECONDS x attempts (2) for catalog; orders refuses to start
# unless that is below PENDING_TIMEOUT_SECONDS, so the reconciler never races a live checkout.
ORDERS_ENV = {
    "RECONCILE_INTERVAL_SECONDS": str(RECONCILE_INTERVAL_SECONDS),
    "PENDING_TIMEOUT_SECONDS": str(PENDING_TIMEOUT_SECONDS),
    "CATALOG_TIMEOUT_SECONDS": "0.4",
}
GATEWAY_ENV = {"RATE_LIMIT": "off", "UPSTREAM_TIMEOUT_SECONDS": "3", "BREAKER_RESET_SECONDS": "0.5"}
# The longest a PENDING order may wait for the reconciler: it is taken on once older than
# PENDING_TIMEOUT_SECONDS, at the next pass (every RECONCILE_INTERVAL_SECONDS), plus a second of
# slack for the passes' own catalog calls on a busy 2-core machine.
PENDING_BOUND_SECONDS = PENDING_TIMEOUT_SECONDS + 2 * RECONCILE_INTERVAL_SECONDS + 1.0
SKUS = ("MUG-001", "MUG-002", "KETTLE-01", "TEE-BLK-M", "TEE-WHT-L")
CLIENTS = 4
CUSTOMER = {"name": "E2E Customer", "email": "e2e@example.com"}


async def wait_until(condition: Callable[[], bool], within: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, f"not within {within}s: {what}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        return response.status, await response.json(content_type=None)


async def test_one_checkout_retried_five_times_at_once_makes_one_order_and_one_reservation(
    start_service: StartService,
) -> None:
    catalog = await start_service("catalog")
    await start_service("orders", env=ORDERS_ENV)
    gateway = await start_service("api-gateway", env=GATEWAY_ENV)
    body = orjson.dumps({"items": [{"sku": "KETTLE-01", "quantity": 3}], "customer": CUSTOMER})
    headers = {"Content-Type": "application/json", "Idempotency-Key": f"e2e-retry-{uuid.uuid4().hex}"}

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        _, before = await get_json(session, f"{catalog.url}/products/KETTLE-01")

        async def checkout() -> tuple[int, dict[str, Any]]:
            async with session.post(f"{gateway.url}/api/orders", data=body, headers=headers) as response:
                return response.status, await response.json(content_type=None)

        answers = await asyncio.gather(*(checkout() for _ in range(5)))

        assert [status for status, _ in answers] == [201] * 5, answers
        assert len({answer["id"] for _, answer in answers}) == 1, answers
        order_id = answers[0][1]["id"]
        assert answers[0][1]["status"] == "CONFIRMED"
        _, page = await get_json(session, f"{gateway.url}/api/orders")
        assert [order["id"] for order in page["items"]] == [order_id]
        status, reservation = await get_json(session, f"{catalog.url}/reservations/{order_id}")
        assert status == 200
        assert reservation["status"] == "reserved"
        assert reservation["items"] == [{"sku": "KETTLE-01", "quantity": 3}]
        _, after = await get_json(session, f"{catalog.url}/products/KETTLE-01")
        assert after["stock"] == before["stock"] - 3  # reserved once, not five times


class CheckoutStream:
    """Clients placing orders until told to stop. Half of them retry a checkout that got no answer
    (orders gone, a 503 from the gateway) with its own Idempotency-Key, as a careful client would,
    so an order made just before the crash is answered after the restart instead of made again;
    the other half give up on it, leaving its order (if any) to the reconciler."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acknowledged: list[str] = []
        self.unanswered = 0
        self.unexpected: list[str] = []
        self.stop = asyncio.Event()

    async def client(self, index: int) -> None:
        rng = random.Random(index)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            n = 0
            while not self.stop.is_set():
                key = f"e2e-stream-{index}-{n}-{uuid.uuid4().hex[:8]}"
                n += 1
                body = {"items": [{"sku": rng.choice(SKUS), "quantity": rng.randint(1, 2)}], "customer": CUSTOMER}
                await self.place(session, key, body, retry=index % 2 == 0)

    async def place(self, session: aiohttp.ClientSession, key: str, body: dict[str, Any], *, retry: bool) -> None:
        while not self.stop.is_set():
            try:
                async with session.post(self.url, json=body, headers={"Idempotency-Key": key}) as response:
                    payload = await response.json(content_type=None)
                    if response.status in (201, 202):
                        self.acknowledged.append(str(payload["id"]))
                        return
                    if response.status not in (502, 503, 504):
                        self.unexpected.append(f"{response.status} {payload}")
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.unanswered += 1
            await asyncio.sleep(0.05)
            if not retry:
                return


async def run_cli_check(
    api_url: str, initial: dict[str, int], acknowledged: list[str], folder: Path
) -> tuple[int, str]:
    initial_file, acknowledged_file = folder / "initial.json", folder / "acknowledged.txt"
    initial_file.write_bytes(orjson.dumps(initial))
    acknowledged_file.write_text("\n".join(acknowledged) + "\n")
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "shopfloor"),
        "check-consistency",
        "--gateway-url",
        api_url,
        "--api-key",
        ADMIN_KEY,
        "--initial-stock",
        str(initial_file),
        "--acknowledged",
        str(acknowledged_file),
        "--max-pending-age",
        str(PENDING_BOUND_SECONDS),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "ADMIN_API_KEY"},
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_kill_9_of_orders_during_checkouts_loses_and_doubles_nothing(
    start_service: StartService, service_lines: Lines, tmp_path: Path
) -> None:
    await start_service("catalog")
    orders = await start_service("orders", env=ORDERS_ENV)
    gateway = await start_service("api-gateway", env=GATEWAY_ENV)
    api_url = f"{gateway.url}/api"
    endpoints = Endpoints.through_gateway(api_url, ADMIN_KEY)
    snapshot = await take_snapshot(endpoints)
    assert not snapshot.pending

    stream = CheckoutStream(f"{api_url}/orders")
    clients = [asyncio.create_task(stream.client(index)) for index in range(CLIENTS)]
    try:
        await wait_until(lambda: len(stream.acknowledged) >= 10, 30, "checkouts flowing before the crash")
        orders.process.send_signal(signal.SIGKILL)
        assert await orders.process.wait() == -signal.SIGKILL
        acknowledged_before_restart = len(stream.acknowledged)
        unanswered_at_kill = stream.unanswered
        await wait_until(lambda: stream.unanswered >= unanswered_at_kill + CLIENTS, 15, "checkouts failing")

        await start_service("orders", port=orders.spec.port, env=ORDERS_ENV)
        await wait_until(
            lambda: len(stream.acknowledged) >= acknowledged_before_restart + 10, 30, "checkouts flowing again"
        )
    finally:
        stream.stop.set()
        await asyncio.gather(*clients)

    assert stream.unexpected == []
    duplicated = [order_id for order_id, n in Counter(stream.acknowledged).items() if n > 1]
    assert duplicated == [], "one order answered to two different checkouts"

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def pending() -> int:
            status, page = await get_json(session, f"{api_url}/orders?status=PENDING&limit=1")
            assert status == 200, page
            return int(page["total"])

        started = time.monotonic()
        while (left := await pending()) and time.monotonic() - started < PENDING_BOUND_SECONDS + 5:
            await asyncio.sleep(0.2)
        took = time.monotonic() - started
    assert left == 0, f"{left} order(s) still PENDING {took:.1f}s after the traffic stopped"
    assert took <= PENDING_BOUND_SECONDS, f"the reconciler took {took:.1f}s (bound {PENDING_BOUND_SECONDS}s)"

    report = await check_consistency(
        endpoints,
        initial_stock=snapshot.initial_stock,
        max_pending_age_seconds=PENDING_BOUND_SECONDS,
        acknowledged=stream.acknowledged,
    )
    assert report.consistent, report.render() + "\n--- orders log ---\n" + service_lines.text("orders")[-4000:]
    assert sum(report.orders_by_status.values()) >= len(stream.acknowledged)

    code, out = await run_cli_check(api_url, snapshot.initial_stock, stream.acknowledged, tmp_path)
    assert code == 0, out
    assert "CONSISTENT" in out
