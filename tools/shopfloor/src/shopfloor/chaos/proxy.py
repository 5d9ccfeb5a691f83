"""A TCP fault proxy between a local service and a dependency (PostgreSQL, Redis, catalog).

These machines have no tc netem and no toxiproxy, so network faults are made here, in user space:
the proxy listens on 127.0.0.1 and forwards to an upstream that must be on 127.0.0.0/8 (anything
else is refused). Its mode changes while it runs, for connections already open and new ones alike:

    pass       bytes flow unchanged
    latency    every chunk waits `latency_ms / 2` in each direction, so a round trip (a query and
               its answer) takes `latency_ms` longer; chunks stay pipelined, as on a slow link
    blackhole  nothing moves and nothing is refused: new connections are accepted and held, open
               ones stop reading and writing (bytes wait in the kernel's buffers, as packets wait
               for retransmission), so callers find out only by their timeouts. Back to pass or
               latency, the held bytes flow again, as after a healed partition
    reset      every open connection is closed with a TCP RST (SO_LINGER 0), both sides; new ones
               are accepted and reset at once: "connection reset by peer"

Resources are bounded: at most `max_connections` at a time (more are reset), four small tasks and
at most `QUEUE_CHUNKS` chunks in flight per connection.

`DependencyProxies` puts proxies in front of a LocalStack's dependencies before the stack starts
(DATABASE_URL per service, REDIS_URL, CATALOG_URL rewired through them), so chaos runs and labs
switch modes later without restarting any service:

    proxies = DependencyProxies()
    options = await proxies.prepare(options)
    async with proxies, LocalStack(options) as stack:
        proxies.get("postgres", "catalog").set_mode("latency", latency_ms=150)
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shopfloor.chaos.loopback import require_loopback_host
from shopfloor.lifecycle import StartStop
from shopfloor_common.localserver import LOCAL_HOST, free_port

if TYPE_CHECKING:
    from shopfloor.local.stack import StackOptions

CHUNK_BYTES = 64 * 1024
QUEUE_CHUNKS = 32


class ProxyError(Exception):
    """The proxy cannot be set up as asked; the message says why."""


class ProxyMode(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - a mode, not a password
    LATENCY = "latency"
    BLACKHOLE = "blackhole"
    RESET = "reset"


@dataclass
class ProxyStats:
    accepted: int = 0
    reset: int = 0  # connections closed with RST (reset mode, or over max_connections)
    over_limit: int = 0
    bytes_up: int = 0  # client -> upstream
    bytes_down: int = 0


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Close with RST: SO_LINGER on with a zero timeout makes close() abort the connection."""
    if writer is None or writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Connection:
    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.was_reset = False

    def reset(self) -> None:
        self.was_reset = True
        _reset(self.client)
        _reset(self.upstream)

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None and not writer.transport.is_closing():
                writer.close()


class FaultProxy(StartStop):
    """One listening port on 127.0.0.1 forwarding to one loopback upstream (module docstring)."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        name: str = "proxy",
        listen_port: int = 0,
        max_connections: int = 256,
        connect_timeout_seconds: float = 5.0,
    ) -> None:
        self.upstream_host = require_loopback_host(upstream_host, f"{name}'s upstream")
        if not 1 <= upstream_port <= 65535:
            raise ProxyError(f"{name}: upstream port {upstream_port} is not a TCP port")
        self.upstream_port = upstream_port
        self.name = name
        self.listen_port = listen_port
        self.max_connections = max_connections
        self.connect_timeout_seconds = connect_timeout_seconds
        self.mode = ProxyMode.PASS
        self.latency_ms = 0.0
        self.stats = ProxyStats()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise ProxyError(f"{self.name}: not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def address(self) -> str:
        return f"{LOCAL_HOST}:{self.port}"

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, LOCAL_HOST, self.listen_port, limit=CHUNK_BYTES)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._connections):
            connection.reset()
        await self._server.wait_closed()
        self._server = None

    def set_mode(self, mode: ProxyMode | str, *, latency_ms: float = 0.0) -> None:
        """Switch mode now, for open and new connections (module docstring)."""
        try:
            mode = ProxyMode(mode)
        except ValueError:
            raise ProxyError(
                f"{self.name}: no proxy mode {mode!r} (modes: {', '.join(m.value for m in ProxyMode)})"
            ) from None
        if mode is ProxyMode.LATENCY and not 0 < latency_ms <= 60_000:
            raise ProxyError(f"{self.name}: latency mode needs latency_ms in (0, 60000], got {latency_ms!r}")
        self.mode = mode
        self.latency_ms = float(latency_ms) if mode is ProxyMode.LATENCY else 0.0
        if mode is ProxyMode.BLACKHOLE:
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode is ProxyMode.RESET:
            for connection in list(self._connections):
                connection.reset()
                self.stats.reset += 1

    # --- one connection --------------------------------------------------------------------------

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.mode is ProxyMode.RESET or len(self._connections) >= self.max_connections:
            if self.mode is not ProxyMode.RESET:
                self.stats.over_limit += 1
            self.stats.reset += 1
            _reset(client_writer)
            return
        self.stats.accepted += 1
        connection = _Connection(client_writer)
        self._connections.add(connection)
        try:
            await self._flowing.wait()  # blackhole: accepted, then silence
            if connection.was_reset:
                return
            try:
                upstream_reader, upstream_writer = await asyncio.wait_for(
                    asyncio.open_connection(self.upstream_host, self.upstream_port, limit=CHUNK_BYTES),
                    self.connect_timeout_seconds,
                )
            except (OSError, TimeoutError):
                # The dependency itself is away: the client sees what it would see directly.
                _reset(client_writer)
                return
            connection.upstream = upstream_writer
            pipes = [
                asyncio.create_task(self._pipe(client_reader, upstream_writer, up=True)),
                asyncio.create_task(self._pipe(upstream_reader, client_writer, up=False)),
            ]
            try:
                # Both directions end (each closes its write side at EOF), or one fails.
                done, _ = await asyncio.wait(pipes, return_when=asyncio.FIRST_EXCEPTION)
                if any(task.exception() is not None for task in done):
                    connection.reset()
            finally:
                for task in pipes:
                    task.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._connections.discard(connection)
            connection.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=QUEUE_CHUNKS)

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._flowing.wait()
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
                if up:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)

        deliverer = asyncio.create_task(deliver())
        try:
            while True:
                await self._flowing.wait()
                read = asyncio.ensure_future(reader.read(CHUNK_BYTES))
                done, _ = await asyncio.wait({read, deliverer}, return_when=asyncio.FIRST_COMPLETED)
                if deliverer in done:  # the other side broke: stop reading
                    read.cancel()
                    deliverer.result()
                    return
                data = read.result()
                await queue.put((loop.time() + self.latency_ms / 2000.0, data))
                if not data:
                    break
            await deliverer
        finally:
            deliverer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await deliverer


# --- a LocalStack's dependencies behind proxies ----------------------------------------------------


DEPENDENCIES = ("postgres", "redis", "catalog")


def _host_port(url: str, default_port: int, what: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return require_loopback_host(parts.hostname, what), parts.port or default_port


class DependencyProxies:
    """Fault proxies in front of a LocalStack's dependencies, made before it starts (module docstring).

    PostgreSQL gets one proxy per service that has a database (`postgres` names them; a fault then
    hits one service's database, as NetworkChaos on one pod would), Redis one for every service,
    catalog one for every caller (orders, api-gateway). A dependency the options do not use (no
    `postgres_url`, no `redis_url`, no catalog in the stack) gets none."""

    def __init__(
        self, *, postgres: Sequence[str] = ("catalog", "orders"), redis: bool = True, catalog: bool = True
    ) -> None:
        self.postgres_services = tuple(postgres)
        self.want_redis = redis
        self.want_catalog = catalog
        self.proxies: dict[tuple[str, str | None], FaultProxy] = {}

    def get(self, dependency: str, service: str | None = None) -> FaultProxy:
        """The proxy in front of `dependency` (postgres: of `service`'s database)."""
        key = (dependency, service if dependency == "postgres" else None)
        proxy = self.proxies.get(key)
        if proxy is None:
            known = ", ".join(f"{d}" + (f" of {s}" if s else "") for d, s in self.proxies) or "none"
            what = f"{dependency} of {service}" if key[1] else dependency
            raise ProxyError(f"no fault proxy in front of {what} (proxies: {known})")
        return proxy

    async def prepare(self, options: StackOptions) -> StackOptions:
        """Start the proxies; the options to start the stack with, wired through them."""
        from shopfloor.local.discovery import discover_services
        from shopfloor.local.stack import url_through

        services = [s for s in discover_services(options.repo) if options.only is None or s.name in options.only]
        names = {s.name for s in services}
        port_overrides = dict(options.port_overrides)
        service_env = {name: dict(env) for name, env in options.service_env.items()}
        postgres_via = dict(options.postgres_via)
        redis_url = options.redis_url
        try:
            if options.postgres_url:
                host, port = _host_port(options.postgres_url, 5432, "the PostgreSQL server")
                for service in services:
                    if service.migrate and service.name in self.postgres_services:
                        proxy = await self._start(("postgres", service.name), host, port)
                        postgres_via[service.name] = proxy.address
            if self.want_redis and options.redis_url:
                host, port = _host_port(options.redis_url, 6379, "Redis")
                proxy = await self._start(("redis", None), host, port)
                redis_url = url_through(options.redis_url, proxy.address)
            if self.want_catalog and "catalog" in names:
                # The stack must put catalog where the proxy forwards to: choose its port now.
                catalog_port = port_overrides.setdefault("catalog", free_port())
                proxy = await self._start(("catalog", None), LOCAL_HOST, catalog_port)
                for name in names - {"catalog"}:
                    service_env.setdefault(name, {})["CATALOG_URL"] = f"http://{proxy.address}"
        except BaseException:
            await self.stop()
            raise
        return replace(
            options,
            port_overrides=port_overrides,
            service_env=service_env,
            postgres_via=postgres_via,
            redis_url=redis_url,
        )

    async def _start(self, key: tuple[str, str | None], host: str, port: int) -> FaultProxy:
        dependency, service = key
        proxy = FaultProxy(host, port, name=f"{dependency} proxy" + (f" of {service}" if service else ""))
        await proxy.start()
        self.proxies[key] = proxy
        return proxy

    async def stop(self) -> None:
        for proxy in self.proxies.values():
            await proxy.stop()
        self.proxies.clear()

    async def __aenter__(self) -> DependencyProxies:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
