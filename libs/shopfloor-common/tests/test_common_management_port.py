"""MANAGEMENT_PORT: a real service process serves /metrics, /livez, /readyz and /admin/faults on
the management port only, answers them 404 on PORT (the port the Ingress routes to), keeps the
management port answering (/readyz 503) through the SIGTERM drain, and exits 0."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from shopfloor_common.server import is_management_path
from shopfloor_common.settings import ServiceSettings

SERVICE_SCRIPT = Path(__file__).with_name("common_slow_service.py")
DRAIN_SECONDS = 1.5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(tmp_path: Path, port: int, management_port: int | str) -> tuple[subprocess.Popen[bytes], Path]:
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MANAGEMENT_PORT": str(management_port),
        "SERVICE_NAME": "slow-service",
        "SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "SHUTDOWN_TIMEOUT_SECONDS": "1",
    }
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(SERVICE_SCRIPT), "serve"], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    return process, log_path


@pytest.fixture
def ports(tmp_path: Path) -> Iterator[tuple[int, int, subprocess.Popen[bytes], Path]]:
    port, management_port = _free_port(), _free_port()
    process, log_path = _start(tmp_path, port, management_port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{management_port}/livez", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the service did not answer on its management port:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield port, management_port, process, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_internal_paths_only_on_the_management_port(
    ports: tuple[int, int, subprocess.Popen[bytes], Path],
) -> None:
    port, management_port, _process, _log = ports
    public, management = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{management_port}"
    for path in ("/metrics", "/livez", "/readyz", "/admin/faults", "//metrics", "/readyz/", "/metrics?x=1"):
        answer = httpx.get(public + path, timeout=5)
        assert answer.status_code == 404, (path, answer.status_code, answer.text[:200])
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/no-route")
    assert httpx.get(public + "/openapi.json", timeout=5).status_code == 200
    metrics = httpx.get(management + "/metrics", timeout=5)
    assert metrics.status_code == 200
    assert "http_requests_in_flight" in metrics.text
    assert httpx.get(management + "/readyz", timeout=5).status_code == 200
    assert httpx.get(management + "/admin/faults", timeout=5).status_code in {200, 401, 403}
    # The management port serves nothing else: the API stays on PORT.
    assert httpx.get(management + "/openapi.json", timeout=5).status_code == 404


def test_management_port_answers_through_the_drain(ports: tuple[int, int, subprocess.Popen[bytes], Path]) -> None:
    _port, management_port, process, log_path = ports
    management = f"http://127.0.0.1:{management_port}"
    process.send_signal(signal.SIGTERM)
    seen: set[int] = set()
    deadline = time.monotonic() + DRAIN_SECONDS + 10
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            seen.add(httpx.get(management + "/readyz", timeout=1).status_code)
        time.sleep(0.05)
    assert process.wait(timeout=10) == 0, log_path.read_text()
    assert 503 in seen, f"/readyz answers seen on the management port while draining: {seen}"
    with pytest.raises(httpx.TransportError):
        httpx.get(management + "/livez", timeout=1)


def test_management_port_equal_to_port_is_refused() -> None:
    with pytest.raises(ValidationError, match="MANAGEMENT_PORT equals PORT"):
        ServiceSettings(port=8081, management_port=8081)
    assert ServiceSettings.model_validate({"port": 8081, "management_port": ""}).management_port is None


@pytest.mark.parametrize(
    ("path", "internal"),
    [("/metrics", True), ("/metricsx", False), ("/admin/faults/latency", True), ("/api/readyz", False), ("/", False)],
)
def test_is_management_path(path: str, internal: bool) -> None:
    assert is_management_path(path) is internal
