"""Talking to the lab shop (shopfloor/labs/supervisor.py): start it detached, find it, ask it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from shopfloor.labs.common import STATE_FILE
from shopfloor.labs.model import labs_root

START_TIMEOUT_SECONDS = 240.0
REQUEST_TIMEOUT_SECONDS = 300.0  # an inject waits for restarts and, for some labs, an incident window


class ShopError(Exception):
    """The lab shop is not running, did not start, or refused; the message says what to do."""


def stack_dir(repo: Path) -> Path:
    return labs_root(repo) / "stack"


def read_state(repo: Path) -> dict[str, Any] | None:
    """The running shop's state.json, or None when no shop runs (a stale file is ignored)."""
    path = stack_dir(repo) / STATE_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pid = data.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        return None
    return data


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def default_postgres() -> str:
    return os.environ.get("LAB_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


def default_redis() -> str:
    return os.environ.get("LAB_REDIS_URL") or "redis://127.0.0.1:6379/0"


def ensure_shop(repo: Path, *, postgres: str, redis: str, customers: float, say: Any = print) -> dict[str, Any]:
    """The running shop's state; starts one (detached) when none runs."""
    state = read_state(repo)
    if state is not None and "control_url" in state:
        return state
    if state is not None:  # starting (another command started it): wait for it
        return _wait_ready(repo, None)
    folder = stack_dir(repo)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATE_FILE).unlink(missing_ok=True)
    log = (folder / "supervisor.log").open("ab")
    what = "PostgreSQL, Redis, Prometheus, Alertmanager, the services"
    say(f"starting the lab shop ({what}); log: {folder / 'supervisor.log'}")
    process = subprocess.Popen(  # noqa: S603 - our own module, with our arguments
        [
            sys.executable,
            "-m",
            "shopfloor.labs.supervisor",
            "--repo",
            str(repo),
            "--state",
            str(folder),
            "--postgres",
            postgres,
            "--redis",
            redis,
            "--customers",
            str(customers),
        ],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # it outlives this command, and a Ctrl-C here does not reach it
    )
    log.close()
    return _wait_ready(repo, process)


def _wait_ready(repo: Path, process: subprocess.Popen[bytes] | None) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    path = stack_dir(repo) / STATE_FILE
    while time.monotonic() < deadline:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if "control_url" in data:
            return dict(data)
        if "error" in data:
            raise ShopError(f"the lab shop did not start: {data['error']}")
        if process is not None and process.poll() is not None:
            tail = (stack_dir(repo) / "supervisor.log").read_text(encoding="utf-8", errors="replace")[-2000:]
            raise ShopError(f"the lab shop exited with code {process.returncode}. Its log ends:\n{tail}")
        time.sleep(0.3)
    raise ShopError(
        f"the lab shop was not ready within {START_TIMEOUT_SECONDS:g}s (see {stack_dir(repo) / 'supervisor.log'})"
    )


def running(repo: Path) -> dict[str, Any]:
    state = read_state(repo)
    if state is None or "control_url" not in state:
        raise ShopError("no lab shop is running: `shopfloor lab start ID` starts one")
    return state


def call(repo: Path, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    state = running(repo)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - our own loopback control port
        state["control_url"] + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as answer:  # noqa: S310
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", "")
        except ValueError:
            message = ""
        raise ShopError(message or f"the lab shop answered {exc.code}") from None
    except (urllib.error.URLError, TimeoutError) as exc:
        raise ShopError(f"the lab shop did not answer ({exc})") from None


def settled(repo: Path, timeout_seconds: float = 120.0) -> dict[str, Any]:
    """The shop's status once the deploy repository's HEAD is deployed and every service runs
    (a rollout finished, a killed process restarted); ShopError after `timeout_seconds`."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        state: dict[str, Any] = call(repo, "GET", "/status")
        head = subprocess.run(  # noqa: S603 - git on the lab's own deploy repository
            [shutil.which("git") or "git", "-C", state["deploy_repo"], "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if head == state["deployed"] and all(s["running"] for s in state["services"].values()):
            return state
        if time.monotonic() >= deadline:
            raise ShopError(f"the shop has not deployed HEAD ({head[:8]}) with every service running in time")
        time.sleep(0.5)


def stop_shop(repo: Path, timeout_seconds: float = 60.0) -> bool:
    """Stop the running shop; False when none ran."""
    state = read_state(repo)
    if state is None:
        return False
    pid = int(state["pid"])
    try:
        call(repo, "POST", "/stop")
    except ShopError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    (stack_dir(repo) / STATE_FILE).unlink(missing_ok=True)
    return True
