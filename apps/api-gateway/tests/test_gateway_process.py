"""The real `api-gateway serve` process in front of the stub catalog: the wiring a container runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from shopfloor_common.localserver import free_port

if TYPE_CHECKING:
    from conftest import StubCatalog


@dataclass
class ServedGateway:
    base_url: str
    process: subprocess.Popen[bytes]


def _start_gateway(stub: StubCatalog, log_path: Path) -> ServedGateway | None:
    """The gateway, ready; None when its port was taken between choosing and binding it."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "CATALOG_URL": stub.url,
        "RATE_LIMIT": "off",
        "ACCESS_LOG": "false",
        "SHUTDOWN_DRAIN_SECONDS": "0",
    }
    env.pop("REDIS_URL", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "api_gateway", "serve"], env=env, stdout=log, stderr=log)
    gateway = ServedGateway(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(f"{gateway.base_url}/readyz", timeout=1).status_code == 200:
                return gateway
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            output = log_path.read_text(errors="replace")
            if "address already in use" in output:
                return None
            pytest.fail(f"api-gateway did not become ready:\n{output[-3000:]}")
        time.sleep(0.05)


@pytest.fixture
def served_gateway(stub: StubCatalog, tmp_path: Path) -> Iterator[ServedGateway]:
    for _ in range(3):  # another process on a shared machine may take a free port first
        gateway = _start_gateway(stub, tmp_path / "gateway.log")
        if gateway is not None:
            break
    else:
        pytest.fail("no free port for api-gateway after 3 tries")
    yield gateway
    if gateway.process.poll() is None:
        gateway.process.kill()
    gateway.process.wait()


@pytest.mark.e2e
def test_served_gateway_forwards_refuses_large_uploads_and_stops_on_sigterm(
    served_gateway: ServedGateway, stub: StubCatalog
) -> None:
    base_url = served_gateway.base_url
    product = httpx.get(f"{base_url}/api/products/MUG-001", headers={"X-Request-ID": "e2e-1"})
    assert product.status_code == 200
    assert product.content == stub.product_bytes
    assert stub.requests[-1].headers["x-request-id"] == "e2e-1"

    try:
        upload = httpx.put(
            f"{base_url}/api/products/MUG-001/image",
            files={"image": ("big.png", b"\x00" * (10 * 1024 * 1024), "image/png")},
            headers={"X-API-Key": stub.admin_key},
            timeout=10,
        )
    except httpx.TransportError as exc:
        pytest.fail(f"the gateway should answer 413 rather than drop the connection: {exc!r}")
    assert upload.status_code == 413
    assert upload.headers["content-type"] == "application/problem+json"
    assert len(stub.requests) == 1

    assert httpx.get(f"{base_url}/api/openapi.json").status_code == 200

    served_gateway.process.send_signal(signal.SIGTERM)
    assert served_gateway.process.wait(timeout=10) == 0
