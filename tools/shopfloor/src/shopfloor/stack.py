"""`shopfloor run`: the whole shop as local processes behind the edge router, no Docker.

Order: discover services (apps/*/pyproject.toml with [tool.shopfloor]) -> open the edge port ->
`<service> migrate` and `<service> seed` where the table asks for them -> `<service> serve` for
all at once -> wait for every /readyz -> print the URLs and the admin key -> run until Ctrl-C or
SIGTERM, then stop every child (SIGTERM, then SIGKILL after a timeout) and exit 0. A service
that fails to prepare, exits, or does not get ready is named with its last log lines, the rest
are stopped, and the exit code is 1.

Environment of each service: your own environment passes through (REDIS_URL, LOG_LEVEL, ...),
then the runner sets SERVICE_NAME, PORT, HOST=127.0.0.1, ENVIRONMENT=local,
SHUTDOWN_DRAIN_SECONDS=0, DATABASE_URL (SQLite under var/local/ for services that migrate) and
<SERVICE>_URL for every discovered service; those win over yours, because the stack only works
with them. ADMIN_API_KEY is yours when you set it; otherwise one is generated on first run and
kept in var/local/admin-key (mode 0600) so it stays the same across runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shopfloor.console import Console
from shopfloor.discovery import DiscoveryError, ServiceSpec, discover_services
from shopfloor.edge import EdgeRouter, Route
from shopfloor.processes import ManagedProcess, NotReady, run_to_completion, wait_ready
from shopfloor_common.localserver import LOCAL_HOST, free_port

DEFAULT_EDGE_PORT = 8000
ADMIN_KEY_FILE = "admin-key"
MIN_ADMIN_KEY_LENGTH = 16  # what AdminSettings accepts


class StackError(Exception):
    """The stack cannot start; the message says what to do."""


@dataclass
class RunOptions:
    repo: Path
    state_dir: Path
    edge_port: int = DEFAULT_EDGE_PORT
    edge_host: str = LOCAL_HOST
    port_overrides: dict[str, int] = field(default_factory=dict)
    free_ports: bool = False
    bin_dir: Path | None = None
    ready_timeout_seconds: float = 30.0
    prepare_timeout_seconds: float = 120.0
    stop_timeout_seconds: float = 10.0
    raw_logs: bool = False


@dataclass(frozen=True)
class AdminKey:
    value: str
    file: Path | None  # where it is kept; None when it came from ADMIN_API_KEY
    created: bool = False


def resolve_admin_key(state_dir: Path, environ: Mapping[str, str]) -> AdminKey:
    """ADMIN_API_KEY when set, else the key kept in state_dir/admin-key, generated (mode 0600)
    the first time, so the key a person noted down keeps working across runs."""
    explicit = environ.get("ADMIN_API_KEY")
    if explicit:
        if len(explicit) < MIN_ADMIN_KEY_LENGTH:
            raise StackError(f"ADMIN_API_KEY must be at least {MIN_ADMIN_KEY_LENGTH} characters")
        return AdminKey(explicit, None)
    path = state_dir / ADMIN_KEY_FILE
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if len(key) >= MIN_ADMIN_KEY_LENGTH:
            os.chmod(path, 0o600)
            return AdminKey(key, path)
    state_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    return AdminKey(key, path, created=True)


def database_url(state_dir: Path, service: ServiceSpec) -> str:
    return f"sqlite+aiosqlite:///{state_dir / service.name}.db"


def service_environment(
    service: ServiceSpec,
    services: Sequence[ServiceSpec],
    *,
    state_dir: Path,
    admin_key: str,
    base: Mapping[str, str],
) -> dict[str, str]:
    """The environment one service runs with (the module docstring says which values win)."""
    env = dict(base)
    env.update(
        {
            "SERVICE_NAME": service.name,
            "PORT": str(service.port),
            "HOST": LOCAL_HOST,
            "ENVIRONMENT": "local",
            "SHUTDOWN_DRAIN_SECONDS": "0",
            "ADMIN_API_KEY": admin_key,
            "PYTHONUNBUFFERED": "1",
        }
    )
    for other in services:
        env[other.url_variable] = f"http://{LOCAL_HOST}:{other.port}"
    if service.migrate:
        env["DATABASE_URL"] = database_url(state_dir, service)
    for variable, relative in service.state_paths:
        env[variable] = str(state_dir / relative)
    return env


def service_executable(name: str, bin_dir: Path | None = None) -> Path:
    """The service's console script: next to this Python (the repo's .venv/bin), else on PATH."""
    folder = bin_dir or Path(sys.executable).parent
    candidate = folder / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise StackError(f"the console script `{name}` is not installed in {folder}: run `make venv`")


def edge_routes(services: Sequence[ServiceSpec]) -> list[Route]:
    return [
        Route(prefix=s.edge_prefix, upstream=f"http://{LOCAL_HOST}:{s.port}", name=s.name)
        for s in services
        if s.edge_prefix is not None
    ]


def assign_ports(services: Sequence[ServiceSpec], options: RunOptions) -> list[ServiceSpec]:
    known = {s.name for s in services}
    unknown = sorted(set(options.port_overrides) - known)
    if unknown:
        raise StackError(f"--service-port names unknown service(s): {', '.join(unknown)} (known: {sorted(known)})")
    assigned = []
    for service in services:
        port = options.port_overrides.get(service.name)
        if port is None and options.free_ports:
            port = free_port()
        assigned.append(replace(service, port=port) if port is not None else service)
    return assigned


def _display_path(path: Path, repo: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(repo))
    return str(path)


class Stack:
    """One `shopfloor run`: owns the children and the edge until it returns."""

    def __init__(self, options: RunOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console([], raw=options.raw_logs)
        self.processes: dict[str, ManagedProcess] = {}
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._edge: EdgeRouter | None = None
        self._running: list[ManagedProcess] = []

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    async def run(self) -> int:
        started = time.monotonic()
        options = self.options
        services = assign_ports(discover_services(options.repo), options)
        if not services:
            raise StackError(f"no service under {options.repo / 'apps'} has a [tool.shopfloor] table")
        executables = {s.name: service_executable(s.name, options.bin_dir) for s in services}
        admin_key = resolve_admin_key(options.state_dir, os.environ)
        options.state_dir.mkdir(parents=True, exist_ok=True)
        for service in services:
            self.console.add_name(service.name)
        self.console.add_name("shopfloor")
        self.console.add_name("edge")

        edge = EdgeRouter(
            edge_routes(services),
            index_links=_index_links(services),
            starting=True,
            on_upstream_error=lambda message: self.console.service_line("edge", message),
        )
        try:
            await edge.start(options.edge_host, options.edge_port)
        except OSError as exc:
            raise StackError(
                f"the edge router cannot listen on {options.edge_host}:{options.edge_port} ({exc.strerror}); "
                "set EDGE_PORT or pass --port to use another port"
            ) from None

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop, signal.Signals(sig).name)
        try:
            envs = {
                s.name: service_environment(
                    s, services, state_dir=options.state_dir, admin_key=admin_key.value, base=os.environ
                )
                for s in services
            }
            self._edge = edge
            code = await self._bring_up_all(services, executables, envs)
            if code is not None:
                return code
            self._print_banner(services, edge, admin_key, time.monotonic() - started)
            return await self._supervise()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self._stop_all()
            await edge.stop()

    async def _bring_up_all(
        self, services: Sequence[ServiceSpec], executables: Mapping[str, Path], envs: Mapping[str, dict[str, str]]
    ) -> int | None:
        """Every service through migrate, seed, serve and readiness, each at its own pace (a
        service with nothing to prepare starts at once, which shortens the start on 2 cores).
        None when all are ready, else the exit code."""
        failures = await self._first_failures([self._bring_up(s, executables[s.name], envs[s.name]) for s in services])
        if failures is None:
            self.console.info(f"{self._stop_reason}: stopping before the shop was up")
            return 0
        if failures:
            for failure in failures:
                self.console.error(failure)
            if self._running:
                self.console.info("stopping the other services")
            return 1
        return None

    async def _bring_up(self, service: ServiceSpec, executable: Path, env: dict[str, str]) -> str | None:
        failure = await self._prepare(service, executable, env)
        if failure:
            return failure
        process = ManagedProcess(
            service.name, [str(executable), "serve"], env=env, cwd=self.options.repo, sink=self.console.service_line
        )
        self.processes[service.name] = process
        self._running.append(process)
        await process.start()
        failure = await self._ready(service)
        if failure is None and self._edge is not None:
            self._edge.mark_ready(service.name)
        return failure

    async def _first_failures(self, steps: Sequence[Coroutine[None, None, str | None]]) -> list[str] | None:
        """Run `steps` (each returns None or a failure message) until all succeed ([]), one fails
        (its message; the rest are cancelled, so a broken service is reported at once), or a stop
        is asked for (None)."""
        tasks = [asyncio.ensure_future(step) for step in steps]
        stop = asyncio.ensure_future(self._stop.wait())
        pending: set[asyncio.Future[Any]] = set(tasks)
        try:
            while pending:
                done, _ = await asyncio.wait(pending | {stop}, return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    return None
                pending -= done
                failures = [str(message) for task in done if (message := task.result())]
                if failures:
                    return failures
            return []
        finally:
            stop.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _prepare(self, service: ServiceSpec, executable: Path, env: dict[str, str]) -> str | None:
        steps = [step for step, wanted in (("migrate", service.migrate), ("seed", service.seed)) if wanted]
        for step in steps:
            process = ManagedProcess(
                service.name, [str(executable), step], env=env, cwd=self.options.repo, sink=self.console.service_line
            )
            self._running.append(process)
            try:
                code = await run_to_completion(process, self.options.prepare_timeout_seconds)
            except asyncio.CancelledError:
                await process.stop(timeout_seconds=2)
                raise
            finally:
                self._running.remove(process)
            if code != 0:
                return (
                    f"{service.name}: `{service.name} {step}` failed with exit code {code}. Its last output:\n"
                    + _indent(process.tail_text() or "(no output)")
                )
        return None

    async def _ready(self, service: ServiceSpec) -> str | None:
        process = self.processes[service.name]
        url = f"http://{LOCAL_HOST}:{service.port}/readyz"
        try:
            seconds = await wait_ready(process, url, timeout_seconds=self.options.ready_timeout_seconds)
        except NotReady as exc:
            return f"{service.name} did not start: {exc}. Its last output:\n" + _indent(
                process.tail_text() or "(no output)"
            )
        self.console.service_line("shopfloor", f"{service.name} ready in {seconds:.1f}s (pid {process.pid})")
        return None

    async def _supervise(self) -> int:
        """Run until a stop is asked for (exit 0) or a service exits on its own (exit 1)."""
        exits = {asyncio.ensure_future(p.wait()): p for p in self.processes.values()}
        stop = asyncio.ensure_future(self._stop.wait())
        done, _ = await asyncio.wait({stop, *exits}, return_when=asyncio.FIRST_COMPLETED)
        for waiter in exits:
            waiter.cancel()
        if stop in done:
            self.console.info(f"{self._stop_reason}: stopping every service")
            return 0
        stop.cancel()
        for waiter in done:
            process = exits[waiter]
            self.console.error(
                f"{process.name} exited on its own with code {process.returncode}. Its last output:\n"
                + _indent(process.tail_text())
            )
        self.console.info("stopping the other services")
        return 1

    async def _stop_all(self) -> None:
        running = [p for p in self._running if p.returncode is None]
        await asyncio.gather(*(p.stop(self.options.stop_timeout_seconds) for p in running))
        self._running.clear()

    def _print_banner(
        self, services: Sequence[ServiceSpec], edge: EdgeRouter, admin_key: AdminKey, seconds: float
    ) -> None:
        edge_url = f"http://localhost:{edge.port}"
        rows: list[tuple[str, str]] = [("shop", f"{edge_url}/")]
        if any(s.edge_prefix == "/api" for s in services):
            rows += [("API", f"{edge_url}/api/products"), ("API docs", f"{edge_url}/api/docs")]
        for service in services:
            process = self.processes[service.name]
            rows.append((service.name, f"http://{LOCAL_HOST}:{service.port}  (pid {process.pid})"))
        if admin_key.file is None:
            origin = "from ADMIN_API_KEY"
        else:
            origin = (
                "new, " if admin_key.created else ""
            ) + f"kept in {_display_path(admin_key.file, self.options.repo)}"
        rows.append(("admin key", f"{admin_key.value}  (send it as X-API-Key; {origin})"))
        width = max(len(label) for label, _ in rows)
        lines = [f"Shopfloor is up in {seconds:.1f}s"]
        lines += [f"    {label.ljust(width)}  {value}" for label, value in rows]
        lines.append("    Ctrl-C stops everything.")
        self.console.info("\n".join(lines))


def _index_links(services: Sequence[ServiceSpec]) -> list[tuple[str, str]]:
    if any(s.edge_prefix == "/api" for s in services):
        return [("Products (JSON)", "/api/products"), ("API docs", "/api/docs")]
    return [(s.name, s.edge_prefix) for s in services if s.edge_prefix]


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def run_stack(options: RunOptions, console: Console | None = None) -> int:
    console = console or Console([], raw=options.raw_logs)
    try:
        return asyncio.run(Stack(options, console).run())
    except (StackError, DiscoveryError) as exc:
        console.error(str(exc))
        return 1
