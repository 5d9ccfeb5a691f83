"""`shopfloor run` as a real process over fake services (tests/fake_service.py starts in a tenth
of a second): order of steps, routing, failure reports, and that no child outlives it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import stat
import sys
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Protocol

import aiohttp
import pytest

from shopfloor.local.processes import ManagedProcess
from shopfloor_common.localserver import free_port

FAKE_SERVICE = Path(__file__).with_name("fake_service.py")
pytestmark = pytest.mark.timeout(60)

RUN = [sys.executable, "-c", "from shopfloor.cli import main; main()"]


class Output:
    """Collects a process's lines; lets a test wait for one that matches."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Event()

    def __call__(self, _name: str, line: str) -> None:
        self.lines.append(line)
        self._changed.set()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    async def wait_for(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines:
                    if match := re.search(pattern, line):
                        return match
                self._changed.clear()
                await self._changed.wait()


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def wait_dead(pid: int, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while alive(pid):
            await asyncio.sleep(0.05)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    """A repository with two services: alpha (the edge's /api) and beta (migrates, and seeds
    through alpha)."""
    for name, table in {
        "alpha": 'edge_prefix = "/api"\n',
        "beta": 'migrate = true\nseed = true\nseed_needs = ["alpha"]\n',
    }.items():
        folder = tmp_path / "apps" / name
        folder.mkdir(parents=True)
        (folder / "pyproject.toml").write_text(f"[tool.shopfloor]\nport = {free_port()}\n{table}")
        script = tmp_path / "bin" / name
        script.parent.mkdir(exist_ok=True)
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_SERVICE}" "$@"\n')
        script.chmod(0o755)
    (tmp_path / "tools" / "shopfloor").mkdir(parents=True)
    return tmp_path


class Runner:
    def __init__(self, process: ManagedProcess, output: Output, edge_port: int, state_dir: Path) -> None:
        self.process = process
        self.output = output
        self.edge_port = edge_port
        self.state_dir = state_dir

    async def banner_pids(self) -> dict[str, int]:
        await self.output.wait_for(r"Ctrl-C stops everything")
        return {
            m[1]: int(m[2]) for m in re.finditer(r"(\w+)\s+http://127\.0\.0\.1:\d+\s+\(pid (\d+)\)", self.output.text)
        }

    async def exit_code(self, timeout: float = 15) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)


class StartRunner(Protocol):
    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Awaitable[Runner]: ...


@pytest.fixture
async def start_runner(fake_repo: Path) -> AsyncIterator[StartRunner]:
    started: list[ManagedProcess] = []

    async def start(*args: str, env: dict[str, str] | None = None) -> Runner:
        edge_port = free_port()
        state_dir = fake_repo / "var" / "local"
        output = Output()
        argv = [*RUN, "--repo", str(fake_repo), "run", "--port", str(edge_port), "--bin-dir", str(fake_repo / "bin")]
        environment = {k: v for k, v in os.environ.items() if k not in {"ADMIN_API_KEY", "FAKE_FAIL", "FAKE_NOT_READY"}}
        process = ManagedProcess("run", [*argv, *args], env={**environment, **(env or {})}, sink=output)
        await process.start()
        started.append(process)
        return Runner(process, output, edge_port, state_dir)

    yield start
    for process in started:
        await process.stop(timeout_seconds=5)


async def test_runs_prepares_routes_and_stops_everything_on_ctrl_c(start_runner: StartRunner) -> None:
    runner = await start_runner()
    pids = await runner.banner_pids()
    assert set(pids) == {"alpha", "beta"}
    text = runner.output.text
    # beta migrates, then seeds once alpha serves (its seed_needs), then serves.
    assert text.index("beta: migrate done") < text.index("beta: seed done") < text.index("beta ready")
    assert text.index("alpha ready") < text.index("beta: seed done")

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{runner.edge_port}/api/things?x=1") as response,
    ):
        assert response.status == 200
        answer = await response.json()
    assert answer["service"] == "alpha"
    assert answer["path"] == "/api/things?x=1"
    assert set(answer["env"]) >= {"ALPHA_URL", "BETA_URL"}

    key_file = runner.state_dir / "admin-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() in text

    runner.process.send_signal(signal.SIGINT)
    assert await runner.exit_code() == 0
    for pid in pids.values():
        assert not alive(pid)


async def test_a_failing_migration_names_the_service_command_and_output(start_runner: StartRunner) -> None:
    runner = await start_runner(env={"FAKE_FAIL": "beta:migrate"})
    assert await runner.exit_code() == 1
    text = runner.output.text
    assert "beta: `beta migrate` failed with exit code 3" in text
    assert "    beta migrate: the fake failure you asked for" in text  # its output tail, indented
    assert "beta: seed done" not in text


async def test_a_service_that_exits_before_ready_is_named_and_the_rest_stopped(
    start_runner: StartRunner, fake_repo: Path
) -> None:
    runner = await start_runner(env={"FAKE_FAIL": "alpha:serve"})
    assert await runner.exit_code() == 1
    text = runner.output.text
    assert "alpha did not start: exited with code 3 before it was ready" in text
    assert "alpha serve: the fake failure you asked for" in text
    beta_port = int((fake_repo / "apps/beta/pyproject.toml").read_text().split("port = ")[1].split()[0])
    assert not port_open(beta_port)


async def test_a_service_that_never_gets_ready_is_reported_with_its_last_answer(start_runner: StartRunner) -> None:
    runner = await start_runner("--ready-timeout", "1", env={"FAKE_NOT_READY": "beta"})
    assert await runner.exit_code() == 1
    assert re.search(r"beta did not start: not ready after 1s; last answer from .*/readyz: 503", runner.output.text)


async def test_a_service_dying_later_stops_the_stack(start_runner: StartRunner) -> None:
    runner = await start_runner()
    pids = await runner.banner_pids()
    os.kill(pids["alpha"], signal.SIGKILL)
    assert await runner.exit_code() == 1
    assert f"alpha exited on its own with code -{int(signal.SIGKILL)}" in runner.output.text
    assert not alive(pids["beta"])


async def test_children_die_when_the_runner_is_killed(start_runner: StartRunner) -> None:
    runner = await start_runner()
    pids = await runner.banner_pids()
    runner.process.send_signal(signal.SIGKILL)  # no chance to clean up: the kernel must do it
    await runner.exit_code()
    for pid in pids.values():
        await wait_dead(pid)


async def test_a_busy_edge_port_is_reported_with_the_way_out(start_runner: StartRunner) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        runner = await start_runner("--port", str(busy.getsockname()[1]))
        assert await runner.exit_code() == 1
    assert "set EDGE_PORT or pass --port" in runner.output.text


async def test_run_keeps_every_process_lines_as_json_in_var_local_logs(start_runner: StartRunner) -> None:
    runner = await start_runner()
    await runner.banner_pids()
    assert re.search(r"logs\s+var/local/logs/\s+\(query: shopfloor logs\)", runner.output.text)
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{runner.edge_port}/api/x"):
        pass
    runner.process.send_signal(signal.SIGINT)
    assert await runner.exit_code() == 0

    logs = runner.state_dir / "logs"
    assert sorted(p.name for p in logs.iterdir()) == ["alpha.jsonl", "beta.jsonl", "shopfloor.jsonl"]
    records = {p.stem: [json.loads(line) for line in p.read_text().splitlines()] for p in logs.iterdir()}
    for name, lines in records.items():
        assert all({"time", "service"} <= set(r) and r["service"] == name for r in lines), lines
    # The fake prints JSON without time or service (they are added) and plain lines (wrapped).
    messages = [r["message"] for r in records["alpha"] if r["message"] != "GET /readyz"]
    assert messages == ["listening", "GET /api/x"]
    assert records["alpha"][0]["port"] > 0
    assert [r["message"] for r in records["beta"][:2]] == ["beta: migrate done", "beta: seed done"]
    assert any(re.fullmatch(r"alpha ready in .*", r["message"]) for r in records["shopfloor"])


async def test_a_restarted_service_appends_to_its_log_file(fake_repo: Path) -> None:
    from shopfloor.local.stack import LocalStack, StackOptions

    options = StackOptions(
        repo=fake_repo,
        state_dir=fake_repo / "state",
        only=["alpha"],
        free_ports=True,
        edge_port=None,
        bin_dir=fake_repo / "bin",
        admin_key="a-test-admin-key-of-enough-length",
        log_dir=fake_repo / "state" / "logs",
    )
    async with LocalStack(options) as stack:
        await stack.restart_service("alpha")
    lines = (fake_repo / "state" / "logs" / "alpha.jsonl").read_text().splitlines()
    assert [json.loads(line)["message"] for line in lines].count("listening") == 2
