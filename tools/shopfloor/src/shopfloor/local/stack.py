"""The local stack: the shop's services as local processes, wired as in a cluster, for every
command that needs a running shop.

`shopfloor run` (run.py) is its interactive face; the bench, the screenshots and the SRE kit
(observe, chaos, labs) start it from code with other options (a PostgreSQL server, a subset of
the services, free ports, quieter logs, a fault switch on one service).

Bring-up: discover the services (apps/*/pyproject.toml with [tool.shopfloor]) -> assign ports ->
prepare the databases (a SQLite file each, or one database each on a PostgreSQL server) -> open
the edge router, which answers 503 "starting" on every route -> per service, at its own pace:
`migrate`, wait for the services its seed needs (`seed_needs`), `seed`, `serve`, wait for /readyz
-> open the edge once every service is ready. The first failure stops the bring-up and names the
service with its last log lines.

Environment of a service, later entries winning: your environment (REDIS_URL, LOG_LEVEL, ... pass
through) < `extra_env` (the caller's, for every service) < the stack's wiring (SERVICE_NAME, PORT,
HOST=127.0.0.1, ENVIRONMENT=local, SHUTDOWN_DRAIN_SECONDS=0, ADMIN_API_KEY, DATABASE_URL for services
that migrate, REDIS_URL when the stack is given one, <SERVICE>_URL for every service, the state
paths) < `service_env` (what a caller sets on one service on purpose, e.g. a fault). The wiring
wins over your environment because the stack only works with it; to run on PostgreSQL or Redis,
give the stack a server (`--postgres`, `--redis`) rather than a DATABASE_URL.

ADMIN_API_KEY is yours when you set it; otherwise one is generated on first run and kept in
<state>/admin-key (mode 0600) so it stays the same across runs.

With `log_dir`, every child's output lines also go to <log_dir>/<name>.jsonl, as JSON lines, capped
in size (logfiles.py), for `shopfloor logs` to query; `shopfloor run` keeps them in <state>/logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from shopfloor.lifecycle import StartStop
from shopfloor.local import DEFAULT_EDGE_PORT
from shopfloor.local.databases import DatabaseError, Databases, PostgresDatabases, SqliteDatabases
from shopfloor.local.discovery import DiscoveryError, ServiceSpec, discover_services
from shopfloor.local.edge import EdgeRouter, Route
from shopfloor.local.logfiles import DEFAULT_MAX_BYTES, LogFiles
from shopfloor.local.processes import (
    LineSink,
    ManagedProcess,
    NotReady,
    first_to_exit,
    run_to_completion,
    wait_ready,
)
from shopfloor_common.localserver import LOCAL_HOST, free_port

ADMIN_KEY_FILE = "admin-key"
MIN_ADMIN_KEY_LENGTH = 16  # what AdminSettings accepts


class StackError(Exception):
    """The stack cannot start; the message says what to do."""


@dataclass
class StackOptions:
    repo: Path
    state_dir: Path
    only: Sequence[str] | None = None  # a subset of the services (default: all of them)
    port_overrides: Mapping[str, int] = field(default_factory=dict)
    free_ports: bool = False
    edge_port: int | None = DEFAULT_EDGE_PORT  # None: no edge router
    edge_host: str = LOCAL_HOST
    bin_dir: Path | None = None
    environ: Mapping[str, str] | None = None  # the environment passed through (default: os.environ)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    service_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    admin_key: str | None = None  # default: ADMIN_API_KEY, else the one kept in the state folder
    postgres_url: str | None = None  # a server: one database per service on it
    postgres_prefix: str = "shopfloor_local"
    temporary_databases: bool = False  # drop the PostgreSQL databases when the stack stops
    redis_url: str | None = None
    # service -> host:port through which that service reaches the PostgreSQL server: a fault proxy
    # (shopfloor.chaos.proxy.DependencyProxies). The stack itself still talks to the server directly.
    postgres_via: Mapping[str, str] = field(default_factory=dict)
    skip_seed: Sequence[str] = ()  # services whose demo data is not wanted (the bench counts its own orders)
    ready_timeout_seconds: float = 30.0
    prepare_timeout_seconds: float = 120.0
    stop_timeout_seconds: float = 10.0
    log_dir: Path | None = None  # every child's lines also go to <log_dir>/<name>.jsonl (logfiles.py)
    log_file_max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class AdminKey:
    value: str
    file: Path | None  # where it is kept; None when it came from ADMIN_API_KEY or the caller
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


def service_environment(
    service: ServiceSpec,
    services: Sequence[ServiceSpec],
    *,
    state_dir: Path,
    admin_key: str,
    base: Mapping[str, str],
    database_url: str | None = None,
    redis_url: str | None = None,
) -> dict[str, str]:
    """The environment one service runs with: `base`, then the stack's wiring (module docstring)."""
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
        env["DATABASE_URL"] = database_url or f"sqlite+aiosqlite:///{state_dir / service.name}.db"
    if redis_url:
        env["REDIS_URL"] = redis_url
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


def assign_ports(services: Sequence[ServiceSpec], options: StackOptions) -> list[ServiceSpec]:
    """`services` with the ports the options ask for: an override, a free port, or their own."""
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


def select_services(repo: Path, options: StackOptions) -> list[ServiceSpec]:
    """The services the stack runs (all, or `options.only`), with their ports."""
    discovered = discover_services(repo)
    if not discovered:
        raise StackError(f"no service under {repo / 'apps'} has a [tool.shopfloor] table")
    known = {s.name for s in discovered}
    unknown = sorted(set(options.only or ()) - known)
    if unknown:
        raise StackError(f"no such service: {', '.join(unknown)} (known: {sorted(known)})")
    chosen = [s for s in discovered if options.only is None or s.name in options.only]
    missing_needs = sorted({need for s in chosen if s.seed for need in s.seed_needs} - {s.name for s in chosen})
    if missing_needs:
        raise StackError(f"the services chosen seed through {', '.join(missing_needs)}: include it")
    return assign_ports(chosen, options)


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


class LocalStack(StartStop):
    """One running shop: owns its children, databases and edge until `stop`.

    Use `async with LocalStack(options) as stack:` (start on entry, stop on exit) or call `start`
    and `stop` yourself. `say` receives the stack's own messages, `sink` every output line of
    every child (name, line), after the log files when `options.log_dir` asks for them."""

    def __init__(
        self,
        options: StackOptions,
        *,
        sink: LineSink | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.options = options
        self.say = say or (lambda _message: None)
        self.log_files: LogFiles | None = None
        if options.log_dir is not None:
            self.log_files = LogFiles(
                options.log_dir, then=sink, max_bytes=options.log_file_max_bytes, on_error=self.say
            )
        self.sink: LineSink | None = self.log_files or sink
        self.services: list[ServiceSpec] = []
        self.processes: dict[str, ManagedProcess] = {}
        self.environments: dict[str, dict[str, str]] = {}
        self.executables: dict[str, Path] = {}
        self.edge: EdgeRouter | None = None
        self.admin_key = AdminKey("", None)
        self.databases: Databases = SqliteDatabases(options.state_dir)
        self._serving: dict[str, asyncio.Event] = {}
        self._preparing: list[ManagedProcess] = []

    # --- addresses -------------------------------------------------------------------------------

    def spec(self, name: str) -> ServiceSpec:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(f"the stack runs no service named {name!r}")

    def url(self, name: str) -> str:
        return f"http://{LOCAL_HOST}:{self.spec(name).port}"

    @property
    def edge_url(self) -> str:
        if self.edge is None or self.edge.port is None:
            raise StackError("this stack runs without an edge router")
        return f"http://{self.options.edge_host}:{self.edge.port}"

    # --- bring-up --------------------------------------------------------------------------------

    async def start(self, stop_requested: asyncio.Event | None = None) -> bool:
        """Bring every service up. True once all are ready; False when `stop_requested` was set
        first. Raises StackError naming what failed (and leaves nothing running)."""
        options = self.options
        try:
            self.services = select_services(options.repo, options)
            self.executables = {s.name: service_executable(s.name, options.bin_dir) for s in self.services}
            environ = os.environ if options.environ is None else options.environ
            if options.admin_key is not None:
                self.admin_key = AdminKey(options.admin_key, None)
            else:
                self.admin_key = resolve_admin_key(options.state_dir, environ)
            options.state_dir.mkdir(parents=True, exist_ok=True)
            if options.postgres_url:
                self.databases = PostgresDatabases(
                    options.postgres_url, prefix=options.postgres_prefix, temporary=options.temporary_databases
                )
            database_urls = await self.databases.prepare([s.name for s in self.services if s.migrate])
        except (DiscoveryError, DatabaseError) as exc:
            raise StackError(str(exc)) from None
        base = {**environ, **options.extra_env}
        for service in self.services:
            env = service_environment(
                service,
                self.services,
                state_dir=options.state_dir,
                admin_key=self.admin_key.value,
                base=base,
                database_url=url_through(database_urls.get(service.name), options.postgres_via.get(service.name)),
                redis_url=options.redis_url,
            )
            env.update(options.service_env.get(service.name, {}))
            self.environments[service.name] = env
        self._serving = {s.name: asyncio.Event() for s in self.services}
        try:
            if options.edge_port is not None:
                await self._open_edge(options.edge_host, options.edge_port)
            failures = await self._first_failures([self._bring_up(s) for s in self.services], stop_requested)
        except BaseException:
            await self.stop()
            raise
        if failures is None:
            await self.stop()
            return False
        if failures:
            await self.stop()
            raise StackError("\n".join(failures))
        if self.edge is not None:
            self.edge.open()
        return True

    async def _open_edge(self, host: str, port: int) -> None:
        edge = EdgeRouter(
            edge_routes(self.services),
            index_links=_index_links(self.services),
            starting=True,
            report=lambda message: self._line("edge", message),
        )
        try:
            await edge.start(host, port)
        except OSError as exc:
            raise StackError(
                f"the edge router cannot listen on {host}:{port} ({exc.strerror}); "
                "set EDGE_PORT or pass --port to use another port"
            ) from None
        self.edge = edge

    def _line(self, name: str, line: str) -> None:
        if self.sink is not None:
            self.sink(name, line)

    async def _first_failures(
        self, steps: Sequence[Coroutine[None, None, str | None]], stop_requested: asyncio.Event | None
    ) -> list[str] | None:
        """Run `steps` (each returns None or a failure message) until all succeed ([]), one fails
        (its message; the rest are cancelled, so a broken service is reported at once), or a stop
        is asked for (None)."""
        tasks = [asyncio.ensure_future(step) for step in steps]
        stop = asyncio.ensure_future((stop_requested or asyncio.Event()).wait())
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

    async def _bring_up(self, service: ServiceSpec) -> str | None:
        if service.migrate:
            failure = await self._prepare(service, "migrate")
            if failure:
                return failure
        if service.seed and service.name not in self.options.skip_seed:
            for need in service.seed_needs:
                await self._serving[need].wait()
            failure = await self._prepare(service, "seed")
            if failure:
                return failure
        return await self.start_service(service.name)

    async def _prepare(self, service: ServiceSpec, step: str) -> str | None:
        process = ManagedProcess(
            service.name,
            [str(self.executables[service.name]), step],
            env=self.environments[service.name],
            cwd=self.options.repo,
            sink=self.sink,
        )
        self._preparing.append(process)
        try:
            code = await run_to_completion(process, self.options.prepare_timeout_seconds)
        except asyncio.CancelledError:
            await process.stop(timeout_seconds=2)
            raise
        finally:
            self._preparing.remove(process)
        if code != 0:
            return f"{service.name}: `{service.name} {step}` failed with exit code {code}. Its last output:\n" + indent(
                process.tail_text() or "(no output)"
            )
        return None

    async def start_service(self, name: str, *, env: Mapping[str, str] | None = None) -> str | None:
        """`<name> serve` until /readyz answers 200 (None), else the failure message. Also how a
        chaos run brings back a service it killed; `env` adds to its environment from now on."""
        if env:
            self.environments[name].update(env)
        process = ManagedProcess(
            name,
            [str(self.executables[name]), "serve"],
            env=self.environments[name],
            cwd=self.options.repo,
            sink=self.sink,
        )
        self.processes[name] = process
        await process.start()
        try:
            seconds = await wait_ready(
                process, f"{self.url(name)}/readyz", timeout_seconds=self.options.ready_timeout_seconds
            )
        except NotReady as exc:
            return f"{name} did not start: {exc}. Its last output:\n" + indent(process.tail_text() or "(no output)")
        self._serving[name].set()
        self._line("shopfloor", f"{name} ready in {seconds:.1f}s (pid {process.pid})")
        return None

    # --- running ---------------------------------------------------------------------------------

    async def stop_service(self, name: str, *, sig: int = signal.SIGTERM) -> int:
        """Stop one service (SIGTERM then SIGKILL after the stop timeout; SIGKILL at once when
        asked). Returns its exit code."""
        process = self.processes[name]
        self._serving[name].clear()
        if sig == signal.SIGKILL:
            process.send_signal(signal.SIGKILL)
            return await process.wait()
        return await process.stop(self.options.stop_timeout_seconds)

    async def restart_service(self, name: str, *, env: Mapping[str, str] | None = None) -> None:
        if self.processes[name].returncode is None:
            await self.stop_service(name)
        failure = await self.start_service(name, env=env)
        if failure:
            raise StackError(failure)

    async def first_exit(self) -> ManagedProcess:
        """The first service that exits on its own."""
        return await first_to_exit(list(self.processes.values()))

    async def stop(self) -> None:
        running = [p for p in [*self._preparing, *self.processes.values()] if p.returncode is None]
        await asyncio.gather(*(p.stop(self.options.stop_timeout_seconds) for p in running))
        if self.edge is not None:
            await self.edge.stop()
        with contextlib.suppress(DatabaseError):
            await self.databases.close()
        if self.log_files is not None:
            self.log_files.close()


def url_through(url: str | None, address: str | None) -> str | None:
    """`url` with its host:port replaced by `address` (reaching the same server through a proxy)."""
    if url is None or address is None:
        return url
    parts = urlsplit(url)
    userinfo, _, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{address}" if userinfo else address))


def _index_links(services: Sequence[ServiceSpec]) -> list[tuple[str, str]]:
    if any(s.edge_prefix == "/api" for s in services):
        return [("Products (JSON)", "/api/products"), ("API docs", "/api/docs")]
    return [(s.name, s.edge_prefix) for s in services if s.edge_prefix]
