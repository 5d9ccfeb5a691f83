"""SIGTERM to catalog under load: it keeps serving through the drain (while /readyz says 503),
then closes its listener and finishes what it accepted. No request the server accepted fails.

Client loops send GET /products/{sku} on keep-alive connections, each with its own X-Request-ID,
and the catalog's access log says which requests the server took in. After the listener closes, a
new connection is refused, and a request written on an idle connection the server is closing can
be cut before the server read it: neither was accepted, so neither counts. What counts:
- every HTTP answer is a 200 (no 5xx, no 503 from a draining service);
- every request the server logged as handled reached its client as a 200;
- every request sent during the first part of the drain succeeded (the service really drains);
- /readyz answered 503 during the drain, and the process exited 0.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from dataclasses import dataclass

import aiohttp
import orjson
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

DRAIN_SECONDS = 1.0
CLIENT_LOOPS = 4
SKUS = ("MUG-001", "MUG-002", "KETTLE-01")


@dataclass
class Attempt:
    request_id: str
    started: float
    outcome: str  # "200", another status, or the exception's class name


async def client_loop(url: str, attempts: list[Attempt], stop: asyncio.Event, index: int) -> None:
    connector = aiohttp.TCPConnector(limit=1)  # one keep-alive connection per loop, like a pooled client
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=5)) as session:
        n = 0
        while not stop.is_set():
            request_id = f"loop{index}-{n}-{uuid.uuid4().hex[:6]}"
            started = time.monotonic()
            sku = SKUS[n % len(SKUS)]
            n += 1
            try:
                async with session.get(f"{url}/products/{sku}", headers={"X-Request-ID": request_id}) as response:
                    await response.read()
                    outcome = str(response.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcome = type(exc).__name__
                await asyncio.sleep(0.01)  # after the listener closed, do not spin on refusals
            attempts.append(Attempt(request_id, started, outcome))


async def readiness_watch(url: str, seen: list[tuple[float, int | str]], stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
        while not stop.is_set():
            started = time.monotonic()
            try:
                async with session.get(f"{url}/readyz") as response:
                    seen.append((started, response.status))
            except (aiohttp.ClientError, TimeoutError) as exc:
                seen.append((started, type(exc).__name__))
            await asyncio.sleep(0.05)


async def test_sigterm_under_load_fails_no_accepted_request(start_service, service_lines) -> None:
    catalog = await start_service(
        "catalog",
        env={"SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS), "ACCESS_LOG": "true", "LOG_LEVEL": "INFO"},
    )
    attempts: list[Attempt] = []
    readiness: list[tuple[float, int | str]] = []
    stop = asyncio.Event()
    loops = [asyncio.create_task(client_loop(catalog.url, attempts, stop, i)) for i in range(CLIENT_LOOPS)]
    watcher = asyncio.create_task(readiness_watch(catalog.url, readiness, stop))
    try:
        await asyncio.sleep(0.5)  # load established
        assert any(a.outcome == "200" for a in attempts), attempts[:5]
        sigterm_at = time.monotonic()
        catalog.process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.wait_for(catalog.process.wait(), DRAIN_SECONDS + 10)
        await asyncio.sleep(0.2)  # a few refused attempts after the exit, to show the loops kept going
    finally:
        stop.set()
        await asyncio.gather(*loops, watcher)

    assert exit_code == 0

    handled: dict[str, int] = {}
    for line in service_lines.by_name.get("catalog", []):
        if line.startswith("{"):
            record = orjson.loads(line)
            if "request_id" in record and "status" in record:
                handled[record["request_id"]] = record["status"]

    answered = [a for a in attempts if a.outcome.isdigit()]
    assert all(a.outcome == "200" for a in answered), [a for a in answered if a.outcome != "200"][:5]

    accepted_then_failed = [a for a in attempts if a.request_id in handled and a.outcome != "200"]
    assert not accepted_then_failed, accepted_then_failed[:5]

    early_drain = [a for a in attempts if sigterm_at <= a.started < sigterm_at + DRAIN_SECONDS * 0.6]
    assert early_drain, "no request was sent during the drain"
    assert all(a.outcome == "200" for a in early_drain), [a for a in early_drain if a.outcome != "200"][:5]

    during_drain = [status for at, status in readiness if sigterm_at < at < sigterm_at + DRAIN_SECONDS * 0.8]
    assert 503 in during_drain, readiness
    assert 200 not in [status for at, status in readiness if at > sigterm_at + 0.2], readiness

    refused_or_cut = [a for a in attempts if not a.outcome.isdigit()]
    print(
        f"\nSIGTERM under load: {len(answered)} answered (all 200), {len(early_drain)} during the drain, "
        f"{len(refused_or_cut)} not accepted after the listener closed, {len(handled)} in the access log"
    )
