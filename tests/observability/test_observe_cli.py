"""The observe commands as a person meets them: `shopfloor run --observe` (as a real process, over
fake services that start in a tenth of a second, with the repo's real observability sources and a
real Prometheus and Alertmanager), its refusals (a busy port, missing binaries, port flags without
--observe), `shopfloor alerts` over a real receiver's file, and `shopfloor slo report` when there is
nothing to report on."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import stat
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from shopfloor.cli import main
from shopfloor.local.processes import ManagedProcess, wait_ready
from shopfloor.observe.receiver import AlertReceiver
from shopfloor_common.localserver import free_port

from ..conftest import REPO

FAKE_SERVICE = REPO / "tools" / "shopfloor" / "tests" / "fake_service.py"
RUN = [sys.executable, "-c", "from shopfloor.cli import main; main()"]
SERVICES = ("api-gateway", "catalog", "frontend", "orders")
pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    """The shop's four service names on fake services, with the repo's observability sources."""
    for name in SERVICES:
        folder = tmp_path / "apps" / name
        folder.mkdir(parents=True)
        prefix = {"api-gateway": 'edge_prefix = "/api"\n', "frontend": 'edge_prefix = "/"\n'}.get(name, "")
        (folder / "pyproject.toml").write_text(f"[tool.shopfloor]\nport = {free_port()}\n{prefix}")
        script = tmp_path / "bin" / name
        script.parent.mkdir(exist_ok=True)
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_SERVICE}" "$@"\n')
        script.chmod(0o755)
    (tmp_path / "tools" / "shopfloor").mkdir(parents=True)
    shutil.copytree(REPO / "observability", tmp_path / "observability")
    return tmp_path


class Run:
    def __init__(self, process: ManagedProcess) -> None:
        self.process = process
        self.lines: list[str] = []

    def __call__(self, _name: str, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    async def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        async with asyncio.timeout(timeout):
            while True:
                if match := re.search(pattern, self.text):
                    return match
                if self.process.returncode is not None:
                    raise AssertionError(f"exited {self.process.returncode} before {pattern!r}:\n{self.text}")
                await asyncio.sleep(0.05)


@pytest.fixture
async def run_observe(fake_repo: Path) -> AsyncIterator[Callable[..., Run]]:
    started: list[ManagedProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Run:
        argv = [*RUN, "--repo", str(fake_repo), "run", "--observe", "--free-ports", "--port", "0"]
        argv += ["--bin-dir", str(fake_repo / "bin"), *args]
        environment = {k: v for k, v in os.environ.items() if k not in {"ADMIN_API_KEY", "SLACK_WEBHOOK_URL"}}
        process = ManagedProcess("run", argv, env={**environment, **(env or {})})
        run = Run(process)
        process.sink = run
        started.append(process)
        return run

    yield start
    for process in started:
        await process.stop(timeout_seconds=10)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.usefixtures("prometheus_and_alertmanager")
async def test_run_observe_starts_prometheus_and_alertmanager_and_stops_them_on_ctrl_c(
    run_observe: Callable[..., Run], fake_repo: Path
) -> None:
    prometheus, alertmanager = free_port(), free_port()
    hook = "http://127.0.0.1:9/services/T000/B000/not-a-real-secret"
    run = run_observe(
        "--prometheus-port", str(prometheus), "--alertmanager-port", str(alertmanager), env={"SLACK_WEBHOOK_URL": hook}
    )
    await run.process.start()
    await run.wait_for("Ctrl-C stops everything")
    # Debian's Prometheus serves its classic UI only; an upstream build the React one at /alerts.
    alerts_page = re.search(rf"Prometheus    (http://127\.0\.0\.1:{prometheus}(/classic)?/alerts) ", run.text)
    assert alerts_page, run.text
    async with aiohttp.ClientSession() as session, session.get(alerts_page[1]) as response:
        assert response.status == 200
        assert "SLOFastBurn" in await response.text()
    assert f"Alertmanager  http://127.0.0.1:{alertmanager}" in run.text
    assert (
        "alerts to     Slack (SLACK_WEBHOOK_URL) and the local receiver -> var/local/observe/alerts.jsonl" in run.text
    )
    assert port_open(prometheus)
    assert port_open(alertmanager)

    # Prometheus applies its targets a few seconds after it starts (its scrape manager's ticker).
    targets: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session, asyncio.timeout(20):
        while not targets:
            async with session.get(f"http://127.0.0.1:{prometheus}/api/v1/targets") as response:
                targets = (await response.json())["data"]["activeTargets"]
            await asyncio.sleep(0.2)
    assert sorted((t["labels"]["job"], t["labels"]["service"], t["labels"]["namespace"]) for t in targets) == [
        (name, f"{name}-service", "shopfloor") for name in SERVICES
    ]

    observe = fake_repo / "var" / "local" / "observe"
    config = observe / "alertmanager.yml"
    url_file = observe / "slack-webhook-url"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(url_file.stat().st_mode) == 0o600
    assert url_file.read_text() == hook
    assert hook not in config.read_text()
    assert f"api_url_file: {url_file}" in config.read_text()

    run.process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(run.process.wait(), 20) == 0
    assert not port_open(prometheus)
    assert not port_open(alertmanager)


@pytest.mark.usefixtures("prometheus_and_alertmanager")
async def test_run_observe_refuses_a_busy_port_naming_the_flag(run_observe: Callable[..., Run]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        run = run_observe("--prometheus-port", str(busy), "--alertmanager-port", "0")
        await run.process.start()
        assert await asyncio.wait_for(run.process.wait(), 20) == 1
    assert f"Prometheus cannot listen on 127.0.0.1:{busy}: the port is busy" in run.text
    assert "Pass --prometheus-port (or PROMETHEUS_PORT) PORT" in run.text
    assert "ready in" not in run.text  # refused before any service started


async def test_run_observe_without_prometheus_names_the_packages(run_observe: Callable[..., Run]) -> None:
    run = run_observe(env={"PATH": "/nonexistent"})
    await run.process.start()
    assert await asyncio.wait_for(run.process.wait(), 20) == 1
    assert "Prometheus is not installed" in run.text
    assert "apt-get install --no-install-recommends prometheus prometheus-alertmanager" in run.text


def test_port_flags_need_observe(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--prometheus-port", "19090"])
    assert exit_info.value.code == 2
    assert "--prometheus-port only mean something with --observe" in capsys.readouterr().err


# --- shopfloor alerts ----------------------------------------------------------------------------

DELIVERY = {
    "version": "4",
    "receiver": "page",
    "status": "firing",
    "groupLabels": {"alertname": "SLOFastBurn", "slo": "checkout-availability", "job": "api-gateway"},
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "SLOFastBurn",
                "severity": "critical",
                "slo": "checkout-availability",
                "job": "api-gateway",
            },
            "annotations": {"summary": "checkout availability: error budget burning 200.0x too fast"},
            "startsAt": "2026-11-30T15:52:00.849123456Z",
            "endsAt": "0001-01-01T00:00:00Z",
        }
    ],
}


async def test_alerts_lists_what_the_receiver_got(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "alerts.jsonl"
    receiver = AlertReceiver(log_file)
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(receiver.url, json=DELIVERY) as response:
                assert response.status == 200
            async with session.post(receiver.url, data=b"not json") as response:
                assert response.status == 400
                assert response.content_type == "application/problem+json"
        event = await receiver.wait_for({"slo": "checkout-availability"}, timeout_seconds=1)
        assert event.receiver == "page"
        with pytest.raises(TimeoutError, match="received: SLOFastBurn"):
            await receiver.wait_for({"slo": "checkout-availability"}, status="resolved", timeout_seconds=0.2)
    finally:
        await receiver.stop()

    await asyncio.to_thread(_cli, ["alerts", "--file", str(log_file)], 0)
    table = capsys.readouterr().out
    header, row = table.splitlines()
    assert header.split() == ["received", "status", "receiver", "alert", "severity", "where", "summary"]
    assert row.split()[2:8] == [
        "firing",
        "page",
        "SLOFastBurn",
        "critical",
        "job=api-gateway",
        "slo=checkout-availability",
    ]
    assert row.endswith("checkout availability: error budget burning 200.0x too fast")

    await asyncio.to_thread(_cli, ["alerts", "--file", str(log_file), "--json"], 0)
    (listed,) = orjson.loads(capsys.readouterr().out)
    assert listed["labels"]["alertname"] == "SLOFastBurn"
    assert listed["starts_at"] == "2026-11-30T15:52:00.849123456Z"


def _cli(argv: list[str], expected: int) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == expected


def test_alerts_before_any_delivery_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _cli(["alerts", "--file", str(tmp_path / "none.jsonl")], 0)
    assert "no alert delivered yet" in capsys.readouterr().out


def test_alerts_names_a_broken_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "alerts.jsonl"
    log_file.write_text(orjson.dumps({"received_at": "2026-11-30T15:52:01+00:00", **DELIVERY}).decode() + "\n{oops\n")
    _cli(["alerts", "--file", str(log_file)], 2)
    assert f"{log_file}:2: not a delivery the local receiver wrote" in capsys.readouterr().err


def test_alerts_active_without_alertmanager_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    _cli(["alerts", "--active", "--alertmanager", f"http://127.0.0.1:{free_port()}"], 2)
    error = capsys.readouterr().err
    assert "cannot reach Alertmanager at http://127.0.0.1:" in error
    assert "start `make observe`" in error


# --- shopfloor slo report ------------------------------------------------------------------------


def test_report_without_prometheus_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    _cli(["slo", "report", "--prometheus", f"http://127.0.0.1:{free_port()}", "--no-plots"], 2)
    error = capsys.readouterr().err
    assert "cannot reach Prometheus at http://127.0.0.1:" in error
    assert "start `make observe` and send some traffic" in error


def test_report_refuses_a_bad_window(capsys: pytest.CaptureFixture[str]) -> None:
    _cli(["slo", "report", "--since", "an hour"], 2)
    assert "expected a duration like 30m, 1h or 6h, got 'an hour'" in capsys.readouterr().err


@pytest.mark.usefixtures("prometheus_and_alertmanager")
async def test_report_from_a_prometheus_without_slo_rules_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1s}\n")
    prometheus = ManagedProcess(
        "prometheus",
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        cwd=tmp_path,
    )
    await prometheus.start()
    try:
        await wait_ready(prometheus, f"http://127.0.0.1:{port}/-/ready", timeout_seconds=20)
        await asyncio.to_thread(_cli, ["slo", "report", "--prometheus", f"http://127.0.0.1:{port}"], 2)
    finally:
        await prometheus.stop(timeout_seconds=5)
    error = capsys.readouterr().err
    assert f"Prometheus at http://127.0.0.1:{port} has no SLO series yet" in error
    assert "start `make observe` and send some traffic" in error
