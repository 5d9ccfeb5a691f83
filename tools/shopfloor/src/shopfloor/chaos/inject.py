"""Local fault injectors: one per `local.kind` of chaos/faults.yaml, acting for real on a running
LocalStack (and its DependencyProxies).

Each has `inject()` and `remove()`. `remove()` undoes what `inject()` did, is safe to call twice
and after an `inject()` that failed part way, and leaves the service serving (a restart when the
fault took it away). Nothing acts outside 127.0.0.0/8: every service URL, database and proxy is
checked (shopfloor.chaos.loopback).

    kind     parameters (chaos/faults.yaml)                what inject() does / what remove() does
    signal   service, signal: KILL | STOP                  SIGKILL / SIGSTOP the process; restart / SIGCONT
    stop     service                                       SIGTERM (a clean stop); restart
    switch   service, fault, [limit_megabytes], params...  PUT /admin/faults/<fault> with the stack's admin
                                                           key; DELETE. limit_megabytes (memory) first caps
                                                           the process's memory (MemoryLimit) so the growth
                                                           ends in a kill, and the process is restarted when
                                                           it dies, as a kubelet restarts an OOM-killed pod
    proxy    dependency, [service], mode, [latency_ms]     the dependency's fault proxy to `mode`; pass
    lock     database, [table], [hot], [sku]               a PostgreSQL session holding FOR UPDATE on the
                                                           hot product's row; rollback
    env      service, env                                  restart with `env` added; restart as it was
    release  service, env                                  commit `env` as a release in a git repository
                                                           and deploy it; git revert and redeploy
    stress   service, [cpu_workers], [timeout_seconds]     stress-ng --cpu N pinned (taskset) to the
                                                           service's CPUs; stop it

    target = ChaosTarget(stack, proxies, hot_sku="MUG-001")
    injector = injector_for({"kind": "signal", "service": "orders", "signal": "STOP"}, target)
    await injector.inject()
    ...
    await injector.remove()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp

from shopfloor.chaos.loopback import NotLoopback, require_loopback_url
from shopfloor.chaos.proxy import DependencyProxies, ProxyError, ProxyMode
from shopfloor.local.databases import PostgresDatabases, asyncpg_dsn
from shopfloor.local.processes import ManagedProcess
from shopfloor.local.stack import LocalStack, StackError

ADMIN_TIMEOUT = aiohttp.ClientTimeout(total=10)
STRESS_DEFAULT_SECONDS = 600  # stress-ng's own --timeout: it stops even if nobody removes it
LOCK_MAX_SECONDS = 600  # the server ends a forgotten lock session after this


class InjectError(Exception):
    """A fault could not be injected or removed; the message says why and what to do."""


@dataclass
class ChaosTarget:
    """What local faults act on: a running stack, the proxies in front of its dependencies (when
    it was started with them) and the hot product (the sku the load buys)."""

    stack: LocalStack
    proxies: DependencyProxies | None = None
    hot_sku: str | None = None

    def service_url(self, service: str) -> str:
        try:
            url = self.stack.url(service)
        except KeyError as exc:
            raise InjectError(str(exc.args[0])) from None
        require_loopback_url(url, service)
        return url

    def process(self, service: str) -> ManagedProcess:
        self.service_url(service)
        process = self.stack.processes.get(service)
        if process is None:
            raise InjectError(f"{service} has not been started by this stack")
        return process

    async def start(self, service: str) -> None:
        """Bring `service` back (after a kill, a stop, a changed environment)."""
        process = self.stack.processes.get(service)
        try:
            if process is not None and process.returncode is None:
                await self.stack.restart_service(service)
            else:
                failure = await self.stack.start_service(service)
                if failure:
                    raise StackError(failure)
        except StackError as exc:
            raise InjectError(f"{service} did not come back: {exc}") from None


class Injector:
    kind: ClassVar[str]

    def __init__(self, target: ChaosTarget) -> None:
        self.target = target
        self.injected = False

    async def inject(self) -> None:
        raise NotImplementedError

    async def remove(self) -> None:
        raise NotImplementedError


# --- processes ----------------------------------------------------------------------------------


class SignalFault(Injector):
    kind = "signal"
    SIGNALS: ClassVar[dict[str, signal.Signals]] = {"KILL": signal.SIGKILL, "STOP": signal.SIGSTOP}

    def __init__(self, target: ChaosTarget, *, service: str, signal: str) -> None:
        super().__init__(target)
        if signal not in self.SIGNALS:
            raise InjectError(f"signal: {signal!r} is not one of {', '.join(self.SIGNALS)}")
        self.service = service
        self.signal = signal

    async def inject(self) -> None:
        process = self.target.process(self.service)
        self.injected = True
        if self.signal == "KILL":
            await self.target.stack.stop_service(self.service, sig=signal.SIGKILL)
        else:
            process.send_signal(signal.SIGSTOP)

    async def remove(self) -> None:
        if not self.injected:
            return
        process = self.target.stack.processes[self.service]
        if self.signal == "STOP":
            process.send_signal(signal.SIGCONT)
        elif process.returncode is not None:
            await self.target.start(self.service)
        self.injected = False


class StopFault(Injector):
    kind = "stop"

    def __init__(self, target: ChaosTarget, *, service: str) -> None:
        super().__init__(target)
        self.service = service

    async def inject(self) -> None:
        self.target.process(self.service)
        self.injected = True
        await self.target.stack.stop_service(self.service)

    async def remove(self) -> None:
        if not self.injected:
            return
        if self.target.stack.processes[self.service].returncode is not None:
            await self.target.start(self.service)
        self.injected = False


# --- the fault switch ---------------------------------------------------------------------------


def _memory_status(pid: int) -> dict[str, int]:
    """VmSize, VmRSS, ... of a process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            values[key] = int(parts[0]) * 1024
    return values


class MemoryLimit:
    """A memory limit put on a running process, so that its growth ends in a kill.

    A memory cgroup (v1) when this machine lets us make one (root, as on these machines): the
    kernel's OOM killer then kills the process at `megabytes` of memory, as a pod's limit would.
    Otherwise RLIMIT_AS through prlimit(2): the process may map `megabytes` minus what it holds
    now; past that the allocator refuses, and the fault switch kills its own process (SIGKILL),
    as the OOM killer would have."""

    CGROUP_V1 = Path("/sys/fs/cgroup/memory")

    def __init__(self, pid: int, how: str, *, group: Path | None = None, home: Path | None = None) -> None:
        self.pid = pid
        self.how = how  # "cgroup" or "rlimit"
        self.group = group
        self.home = home
        self.previous_rlimit: tuple[int, int] | None = None

    @classmethod
    def apply(cls, pid: int, megabytes: int, *, prefer_cgroup: bool = True) -> MemoryLimit:
        limit = megabytes * 1024 * 1024
        if prefer_cgroup:
            home = cls._memory_cgroup_of(pid)
            if home is not None and os.access(home, os.W_OK):
                group = home / f"shopfloor-chaos-{pid}-{uuid.uuid4().hex[:6]}"
                try:
                    group.mkdir()
                    (group / "memory.limit_in_bytes").write_text(str(limit))
                    with contextlib.suppress(OSError):  # no swap accounting: nothing to cap
                        (group / "memory.memsw.limit_in_bytes").write_text(str(limit))
                    with contextlib.suppress(OSError):  # bring what it holds along (where supported)
                        (group / "memory.move_charge_at_immigrate").write_text("3")
                    (group / "cgroup.procs").write_text(str(pid))
                    return cls(pid, "cgroup", group=group, home=home)
                except OSError:
                    with contextlib.suppress(OSError):
                        group.rmdir()
        status = _memory_status(pid)
        headroom = max(limit - status.get("VmRSS", 0), 16 * 1024 * 1024)
        cap = status.get("VmSize", 0) + headroom
        made = cls(pid, "rlimit")
        made.previous_rlimit = resource.prlimit(pid, resource.RLIMIT_AS, (cap, cap))
        return made

    @classmethod
    def _memory_cgroup_of(cls, pid: int) -> Path | None:
        if not cls.CGROUP_V1.is_dir():
            return None
        for line in Path(f"/proc/{pid}/cgroup").read_text(encoding="ascii").splitlines():
            _, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(","):
                return cls.CGROUP_V1 / path.lstrip("/")
        return None

    async def lift(self) -> None:
        await asyncio.to_thread(self._lift)

    def _lift(self) -> None:
        alive = Path(f"/proc/{self.pid}").exists()
        if self.how == "rlimit":
            if alive and self.previous_rlimit is not None:
                with contextlib.suppress(ProcessLookupError, OSError):
                    resource.prlimit(self.pid, resource.RLIMIT_AS, self.previous_rlimit)
            return
        assert self.group is not None
        assert self.home is not None
        if alive:
            with contextlib.suppress(OSError):
                (self.home / "cgroup.procs").write_text(str(self.pid))
        for _ in range(50):  # a killed process leaves its cgroup a moment after it exits
            try:
                self.group.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)


class SwitchFault(Injector):
    kind = "switch"

    def __init__(
        self, target: ChaosTarget, *, service: str, fault: str, limit_megabytes: int | None = None, **parameters: Any
    ) -> None:
        super().__init__(target)
        if limit_megabytes is not None and fault != "memory":
            raise InjectError(f"switch: limit_megabytes applies to the memory fault, not {fault!r}")
        self.service = service
        self.fault = fault
        self.parameters = parameters
        self.limit_megabytes = limit_megabytes
        self.limit: MemoryLimit | None = None
        self.watcher: asyncio.Task[None] | None = None
        self.killed_with: int | None = None  # the exit code, when the fault killed the process

    async def _admin(self, method: str) -> tuple[int, str]:
        url = f"{self.target.service_url(self.service)}/admin/faults/{self.fault}"
        headers = {"X-API-Key": self.target.stack.admin_key.value}
        async with (
            aiohttp.ClientSession(timeout=ADMIN_TIMEOUT) as session,
            session.request(method, url, json=self.parameters if method == "PUT" else None, headers=headers) as answer,
        ):
            return answer.status, await answer.text()

    async def inject(self) -> None:
        process = self.target.process(self.service)
        self.injected = True
        if self.limit_megabytes is not None:
            self.limit = await asyncio.to_thread(MemoryLimit.apply, process.pid, self.limit_megabytes)
            self.watcher = asyncio.create_task(self._restart_when_killed(process))
        status, body = await self._admin("PUT")
        if status != 200:
            raise InjectError(f"{self.service} refused the {self.fault} fault: {status} {body[:300]}")

    async def _restart_when_killed(self, process: ManagedProcess) -> None:
        self.killed_with = await process.wait()
        await self.target.start(self.service)

    async def remove(self) -> None:
        if not self.injected:
            return
        process = self.target.stack.processes[self.service]
        if self.watcher is not None:
            if process.returncode is None and not self.watcher.done():
                self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watcher  # a restart under way finishes first
            self.watcher = None
        process = self.target.stack.processes[self.service]  # a new one when it was restarted
        if process.returncode is None:
            status, body = await self._admin("DELETE")
            if status != 204:
                raise InjectError(f"{self.service} did not remove the {self.fault} fault: {status} {body[:300]}")
        else:
            await self.target.start(self.service)
        if self.limit is not None:
            await self.limit.lift()
            self.limit = None
        self.injected = False


# --- the network and the database ---------------------------------------------------------------


class ProxyFault(Injector):
    kind = "proxy"

    def __init__(
        self,
        target: ChaosTarget,
        *,
        dependency: str,
        mode: str,
        service: str | None = None,
        latency_ms: float = 0.0,
    ) -> None:
        super().__init__(target)
        self.dependency = dependency
        self.service = service
        self.mode = mode
        self.latency_ms = latency_ms

    async def inject(self) -> None:
        if self.target.proxies is None:
            raise InjectError(
                "proxy faults need the stack started behind fault proxies (shopfloor.chaos.proxy.DependencyProxies)"
            )
        try:
            proxy = self.target.proxies.get(self.dependency, self.service)
            self.injected = True
            proxy.set_mode(self.mode, latency_ms=self.latency_ms)
        except ProxyError as exc:
            raise InjectError(str(exc)) from None

    async def remove(self) -> None:
        if not self.injected or self.target.proxies is None:
            return
        self.target.proxies.get(self.dependency, self.service).set_mode(ProxyMode.PASS)
        self.injected = False


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class LockFault(Injector):
    """A session that took the hot product's row lock and does not let go (a stuck migration, a
    forgotten transaction). The server ends it after LOCK_MAX_SECONDS even if this tool hangs."""

    kind = "lock"

    def __init__(
        self,
        target: ChaosTarget,
        *,
        database: str,
        table: str = "products",
        hot: bool = True,
        sku: str | None = None,
    ) -> None:
        super().__init__(target)
        if not _IDENTIFIER.match(table):
            raise InjectError(f"lock: {table!r} is not a table name")
        if not hot and sku is None:
            raise InjectError("lock: name the row's sku, or hot: true for the hot product")
        self.database = database
        self.table = table
        self.sku = sku
        self.connection: Any = None

    def _dsn(self) -> str:
        databases = self.target.stack.databases
        if not isinstance(databases, PostgresDatabases):
            raise InjectError("lock needs PostgreSQL: start the stack with a postgres_url")
        url = asyncpg_dsn(databases.url_of(databases.database_name(self.database)))
        require_loopback_url(url, f"{self.database}'s database")
        return url

    async def inject(self) -> None:
        import asyncpg

        sku = self.sku or self.target.hot_sku
        if sku is None:
            raise InjectError("lock on the hot product: the chaos target names no hot_sku (the product the load buys)")
        dsn = self._dsn()
        self.injected = True
        self.connection = await asyncpg.connect(dsn, timeout=5)
        await self.connection.execute(f"SET idle_in_transaction_session_timeout = {LOCK_MAX_SECONDS * 1000}")
        await self.connection.execute("BEGIN")
        query = f'SELECT sku FROM "{self.table}" WHERE sku = $1 FOR UPDATE'  # noqa: S608 - a checked identifier
        row = await self.connection.fetchrow(query, sku)
        if row is None:
            await self.remove()
            raise InjectError(f"lock: no row with sku {sku!r} in {self.database}'s {self.table}")

    async def remove(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a session the server ended is unlocked already
                await connection.execute("ROLLBACK")
            with contextlib.suppress(Exception):
                await connection.close(timeout=5)
        self.injected = False


# --- configuration and releases -----------------------------------------------------------------


def _check_env_targets(env: Mapping[str, str], what: str) -> None:
    """URLs in a fault's environment point at loopback or at a name that cannot resolve (.invalid,
    RFC 6761): a bad configuration must not send traffic anywhere real."""
    for key, value in env.items():
        if not isinstance(value, str) or "\n" in value:
            raise InjectError(f"{what}: {key} must be one line of text")
        if "://" in value:
            host = urlsplit(value).hostname or ""
            if host == "invalid" or host.endswith(".invalid"):
                continue
            try:
                require_loopback_url(value, f"{what}: {key}")
            except NotLoopback as exc:
                raise InjectError(f"{exc} (or a host under .invalid, which never resolves)") from None


class EnvFault(Injector):
    kind = "env"

    def __init__(self, target: ChaosTarget, *, service: str, env: Mapping[str, str]) -> None:
        super().__init__(target)
        _check_env_targets(env, "env")
        self.service = service
        self.env = dict(env)
        self.original: dict[str, str] | None = None

    async def inject(self) -> None:
        self.target.process(self.service)
        self.original = dict(self.target.stack.environments[self.service])
        self.injected = True
        self.target.stack.environments[self.service].update(self.env)
        await self.target.start(self.service)

    async def remove(self) -> None:
        if not self.injected or self.original is None:
            return
        self.target.stack.environments[self.service] = dict(self.original)
        await self.target.start(self.service)
        self.injected = False


class ReleaseFault(Injector):
    """A bad release deployed through git and rolled back with `git revert`, on a laptop.

    The local "release configuration" lives in a scratch git repository in the stack's state
    folder (releases/), one file per service (`<service>.env`, KEY=VALUE lines added to the
    service's environment), as a values file lives in environments/ for a cluster. inject()
    commits the bad configuration and deploys: the service restarts with what the committed file
    at HEAD says. remove() is the rollback a runbook prescribes: `git revert` of that commit, then
    the same deploy, so the history shows the release and its revert as in the real repository.
    """

    kind = "release"
    AUTHOR: ClassVar[list[str]] = ["-c", "user.name=shopfloor chaos", "-c", "user.email=chaos@localhost"]

    def __init__(self, target: ChaosTarget, *, service: str, env: Mapping[str, str]) -> None:
        super().__init__(target)
        _check_env_targets(env, "release")
        self.service = service
        self.env = dict(env)
        self.commit: str | None = None
        self.original: dict[str, str] | None = None

    @property
    def repository(self) -> Path:
        return self.target.stack.options.state_dir / "releases"

    @property
    def release_file(self) -> str:
        return f"{self.service}.env"

    async def _git(self, *args: str) -> str:
        git = shutil.which("git")
        if git is None:
            raise InjectError("release needs git on the PATH")
        result = await asyncio.to_thread(
            subprocess.run,
            [git, *self.AUTHOR, "-C", str(self.repository), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise InjectError(f"git {' '.join(args)} failed: {(result.stderr or result.stdout).strip()[:500]}")
        return result.stdout.strip()

    async def _ensure_repository(self) -> None:
        if not (self.repository / ".git").exists():
            self.repository.mkdir(parents=True, exist_ok=True)
            await self._git("init", "-q", "-b", "main")
        if not (self.repository / self.release_file).exists():
            (self.repository / self.release_file).write_text("", encoding="utf-8")
            await self._git("add", self.release_file)
            await self._git("commit", "-q", "-m", f"{self.service}: the release running now")

    async def _deploy(self) -> None:
        """Restart the service with the configuration committed at HEAD."""
        assert self.original is not None
        committed = await self._git("show", f"HEAD:{self.release_file}")
        env = dict(self.original)
        for line in committed.splitlines():
            key, _, value = line.partition("=")
            if key.strip():
                env[key.strip()] = value
        self.target.stack.environments[self.service] = env
        await self.target.start(self.service)

    async def inject(self) -> None:
        self.target.process(self.service)
        await self._ensure_repository()
        self.original = dict(self.target.stack.environments[self.service])
        lines = "".join(f"{key}={value}\n" for key, value in sorted(self.env.items()))
        (self.repository / self.release_file).write_text(lines, encoding="utf-8")
        await self._git("add", self.release_file)
        summary = ", ".join(f"{key}={value}" for key, value in sorted(self.env.items()))
        await self._git("commit", "-q", "-m", f"{self.service}: release with {summary}")
        self.commit = await self._git("rev-parse", "HEAD")
        self.injected = True
        await self._deploy()

    async def remove(self) -> None:
        if not self.injected:
            return
        if self.commit is not None:
            await self._git("revert", "--no-edit", self.commit)
            self.commit = None
        await self._deploy()
        self.injected = False


# --- CPU ----------------------------------------------------------------------------------------


class StressFault(Injector):
    kind = "stress"

    def __init__(
        self,
        target: ChaosTarget,
        *,
        service: str,
        cpu_workers: int = 1,
        timeout_seconds: int = STRESS_DEFAULT_SECONDS,
    ) -> None:
        super().__init__(target)
        if not 1 <= cpu_workers <= 64:
            raise InjectError(f"stress: cpu_workers must be 1..64, got {cpu_workers}")
        if not 1 <= timeout_seconds <= 3600:
            raise InjectError(f"stress: timeout_seconds must be 1..3600, got {timeout_seconds}")
        self.service = service
        self.cpu_workers = cpu_workers
        self.timeout_seconds = timeout_seconds
        self.process: ManagedProcess | None = None
        self.cpus: set[int] = set()

    async def inject(self) -> None:
        service = self.target.process(self.service)
        stress, taskset = shutil.which("stress-ng"), shutil.which("taskset")
        if stress is None:
            raise InjectError("stress-ng is not installed: apt-get install stress-ng (.ci/run installs it)")
        if taskset is None:
            raise InjectError("taskset is not installed: apt-get install util-linux")
        self.cpus = os.sched_getaffinity(service.pid)
        cpu_list = ",".join(str(cpu) for cpu in sorted(self.cpus))
        self.injected = True
        self.process = ManagedProcess(
            f"stress-{self.service}",
            [taskset, "-c", cpu_list, stress, "--cpu", str(self.cpu_workers), "--timeout", f"{self.timeout_seconds}s"],
            sink=self.target.stack.sink,
        )
        await self.process.start()

    async def remove(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            await process.stop(timeout_seconds=5)
        self.injected = False


# --- from the catalogue -------------------------------------------------------------------------


INJECTORS: dict[str, type[Injector]] = {
    cls.kind: cls
    for cls in (SignalFault, StopFault, SwitchFault, ProxyFault, LockFault, EnvFault, ReleaseFault, StressFault)
}


def injector_for(local: Mapping[str, Any] | None, target: ChaosTarget) -> Injector:
    """The injector for a fault's `local` entry in chaos/faults.yaml."""
    if local is None:
        raise InjectError("this fault has no local injection (see its local_why_not)")
    parameters = dict(local)
    kind = parameters.pop("kind", None)
    cls = INJECTORS.get(str(kind))
    if cls is None:
        raise InjectError(f"no local injector of kind {kind!r} (kinds: {', '.join(INJECTORS)})")
    try:
        return cls(target, **parameters)
    except TypeError as exc:
        raise InjectError(f"{kind}: {exc}") from None
