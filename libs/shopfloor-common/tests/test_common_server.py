"""serve(): a real uvicorn process drains on SIGTERM and finishes the requests it holds."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

SERVICE_SCRIPT = Path(__file__).with_name("common_slow_service.py")
DRAIN_SECONDS = 1.0
# Fractional on purpose: it used to be truncated to 0, which cancelled every in-flight request.
SHUTDOWN_TIMEOUT_SECONDS = 0.5
SLOW_REQUESTS = 3


class Service:
    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
        self.process = process
        self.base_url = base_url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def service(unused_tcp_port: int, tmp_path: Path) -> Iterator[Service]:
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(unused_tcp_port),
        "SERVICE_NAME": "slow-service",
        "SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_TIMEOUT_SECONDS),
        "LOG_LEVEL": "INFO",
    }
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(SERVICE_SCRIPT), "serve"], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        yield Service(process, f"http://127.0.0.1:{unused_tcp_port}", log_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


async def wait_until_live(client: httpx.AsyncClient, service: Service) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            pytest.fail(f"service exited with {service.process.returncode} before serving:\n{service.log()}")
        try:
            if (await client.get("/livez", timeout=1)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    pytest.fail(f"service did not answer /livez within 20s:\n{service.log()}")


async def wait_for_in_flight(client: httpx.AsyncClient, count: int) -> None:
    # The gauge counts the scrape itself too.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = (await client.get("/metrics")).text
        match = re.search(r"^http_requests_in_flight (\S+)$", text, re.MULTILINE)
        if match and float(match.group(1)) >= count + 1:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"{count} requests never became in flight")


@pytest.mark.e2e
async def test_sigterm_drains_then_finishes_in_flight_requests_and_exits_0(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        await wait_until_live(client, service)
        assert (await client.get("/readyz")).status_code == 200
        slow = [asyncio.create_task(client.get("/slow")) for _ in range(SLOW_REQUESTS)]
        await wait_for_in_flight(client, SLOW_REQUESTS)

        service.process.send_signal(signal.SIGTERM)
        sigterm_at = time.monotonic()

        while (readyz := await client.get("/readyz")).status_code == 200:
            assert time.monotonic() - sigterm_at < DRAIN_SECONDS / 2, "/readyz still 200 long after SIGTERM"
            await asyncio.sleep(0.01)
        assert readyz.status_code == 503
        assert readyz.headers["content-type"] == "application/problem+json"
        assert "shutdown" in readyz.json()["failing"]
        # Still serving during the drain: the load balancer has not taken us out yet.
        async with httpx.AsyncClient(base_url=service.base_url, timeout=2) as new_connection:
            assert (await new_connection.get("/livez")).status_code == 200
        assert time.monotonic() - sigterm_at < DRAIN_SECONDS

        responses = await asyncio.gather(*slow)

    assert [r.status_code for r in responses] == [200] * SLOW_REQUESTS
    assert all(r.json() == {"finished": True} for r in responses)
    exit_code = await asyncio.to_thread(service.process.wait, DRAIN_SECONDS + SHUTDOWN_TIMEOUT_SECONDS + 5)
    assert exit_code == 0, service.log()
    assert time.monotonic() - sigterm_at >= DRAIN_SECONDS

    lines = [line for line in service.log().splitlines() if line.strip()]
    records = [orjson.loads(line) for line in lines]  # every line the process wrote is a JSON log record
    messages = [record["message"] for record in records]
    assert any("draining" in message for message in messages)
    assert all(record["service"] == "slow-service" for record in records)
