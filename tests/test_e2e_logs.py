"""Central logs end to end: the real shop started as `shopfloor run` starts it (LocalStack with a
log folder), requests through the edge with a known X-Request-ID, then `shopfloor logs
--request-id` returns the line of every service each request crossed, in time order.

The edge router itself writes no per-request line (it reports only failures, as plain text): a
request's trail starts at the gateway.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from shopfloor.local.stack import LocalStack, StackOptions
from shopfloor.observe.logs import LogFilter, LogStore

from .conftest import ADMIN_KEY, REPO, clean_environment

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CUSTOMER = {"name": "Log Reader", "email": "logs@example.com"}


async def shopfloor_logs(*argv: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from shopfloor.cli import main; main()",
        "logs",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def wait_for_line(folder: Path, request_id: str, service: str, within: float = 10.0) -> None:
    """A service writes a request's access line as the request ends, so the client can have its
    answer a moment before the line is in the file."""
    deadline = time.monotonic() + within
    wanted = LogFilter(request_id=request_id, services=(service,), statuses=((100, 599),))
    while LogStore(folder).find(wanted).matched == 0:
        assert time.monotonic() < deadline, f"no access line of {service} for {request_id} within {within}s"
        await asyncio.sleep(0.1)


async def trail(folder: Path, request_id: str) -> list[dict[str, Any]]:
    code, out, err = await shopfloor_logs("--dir", str(folder), "--request-id", request_id, "--json")
    assert code == 0, err
    return [orjson.loads(line) for line in out.splitlines()]


def assert_time_order(records: list[dict[str, Any]]) -> None:
    times = [record["time"] for record in records]
    assert times == sorted(times), times


def callers_first(records: list[dict[str, Any]]) -> list[str]:
    """Services of the access lines ordered by when each request started (`started_at`). A line
    is written after the answer is sent, so a callee's line can land after its caller's on a busy
    machine, and `time - duration_ms` drifts by whatever ran between the two (it put catalog
    before the gateway once, 0.7 ms apart); the start times keep the causal order."""
    started = [r for r in records if "started_at" in r]
    return [r["service"] for r in sorted(started, key=lambda r: datetime.fromisoformat(r["started_at"]))]


async def test_one_request_id_follows_a_read_and_a_checkout_through_every_service(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    options = StackOptions(
        repo=REPO,
        state_dir=tmp_path,
        only=("catalog", "orders", "api-gateway"),
        free_ports=True,
        edge_port=0,
        environ=clean_environment(),
        extra_env={"RATE_LIMIT": "off"},
        admin_key=ADMIN_KEY,
        skip_seed=("orders",),
        ready_timeout_seconds=60,
        log_dir=logs,
    )
    read_id = f"e2e-logs-read-{uuid.uuid4().hex[:12]}"
    checkout_id = f"e2e-logs-checkout-{uuid.uuid4().hex[:12]}"
    async with LocalStack(options) as stack:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
            async with session.get(f"{stack.edge_url}/api/products") as response:
                assert response.status == 200
                sku = (await response.json())["items"][0]["sku"]
            async with session.get(f"{stack.edge_url}/api/products/{sku}", headers={"X-Request-ID": read_id}) as answer:
                assert answer.status == 200
                assert answer.headers["X-Request-ID"] == read_id
                assert (await answer.json())["sku"] == sku
            body = orjson.dumps({"items": [{"sku": sku, "quantity": 1}], "customer": CUSTOMER})
            headers = {
                "X-Request-ID": checkout_id,
                "Idempotency-Key": f"e2e-logs-{uuid.uuid4().hex}",
                "Content-Type": "application/json",
            }
            async with session.post(f"{stack.edge_url}/api/orders", data=body, headers=headers) as answer:
                order = await answer.json()
                assert answer.status == 201, order
        for service in ("catalog", "api-gateway"):
            await wait_for_line(logs, read_id, service)
        for service in ("catalog", "orders", "api-gateway"):
            await wait_for_line(logs, checkout_id, service)

        read = await trail(logs, read_id)
        assert sorted((r["service"], r.get("method"), r.get("route")) for r in read) == [
            ("api-gateway", "GET", "/api/products/{sku}"),
            ("catalog", "GET", "/products/{sku}"),
        ]
        assert callers_first(read) == ["api-gateway", "catalog"]
        assert_time_order(read)
        assert all(r["request_id"] == read_id and r["status"] == 200 for r in read)

        checkout = await trail(logs, checkout_id)
        assert_time_order(checkout)
        assert all(r["request_id"] == checkout_id for r in checkout)
        services = [r["service"] for r in checkout]
        assert set(services) == {"catalog", "orders", "api-gateway"}, checkout
        # The gateway calls orders, which calls catalog (price, reservation).
        started = callers_first(checkout)
        assert started[:2] == ["api-gateway", "orders"], started
        assert set(started[2:]) == {"catalog"}, started
        access = {(r["service"], r["method"], r["route"], r["status"]) for r in checkout if "status" in r}
        assert ("orders", "POST", "/orders", 201) in access
        assert ("api-gateway", "POST", "/api/orders", 201) in access

    # The table a person reads names the same services, one line each.
    code, out, _ = await shopfloor_logs("--dir", str(logs), "--request-id", checkout_id)
    assert code == 0
    assert [row.split()[2] for row in out.splitlines()[1:]] == services
