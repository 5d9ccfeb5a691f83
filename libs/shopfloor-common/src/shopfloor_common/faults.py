"""The fault switch: real faults inside a running service, for chaos experiments and labs.

Every service built by `create_service_app` has one. It is off until a fault is set, and a fault
is set only by

- the environment at start: `SHOPFLOOR_FAULTS` (syntax below), validated with the settings, so a
  bad value stops the service naming the variable; or
- an admin request: `PUT /admin/faults/{name}` with a JSON object of parameters (`{}` for the
  defaults), `DELETE /admin/faults/{name}`, `DELETE /admin/faults` (all), `GET /admin/faults`
  (what is on). They need `X-API-Key: <ADMIN_API_KEY>` (401 without, 403 wrong; the key is
  checked before the body is read, so a wrong key with a bad body is still 401/403), and answer
  422 naming the bad parameter, 404 for a fault that does not exist.

Refusals. `ENVIRONMENT=prod` refuses the switch whatever else is set: the admin routes answer
403 "fault injection is refused in prod", and `SHOPFLOOR_FAULTS` in prod stops the service at
start (a configuration error naming the variable) rather than being ignored: a prod deploy that
carries it is a mistake, and failing the start makes the rollout stop on its readiness while the
old pods keep serving, where a warning would hide the mistake in one log line. `FAULTS_ENABLED=
false` refuses it anywhere. A service whose settings hold no admin key (api-gateway, frontend)
takes faults from `SHOPFLOOR_FAULTS` only: its admin routes always answer 403.

The routes are not in the service's OpenAPI document (they are the operator's, not the API's, and
a fuzzer holding the admin key would switch faults on). They are not public either: the gateway
serves only /api through the edge, and /admin/faults would reach the frontend through the `/`
route, so the local edge router refuses every /admin/faults path and a cluster's Ingress must not
route it (the frontend has no admin key, so its switch refuses anyway).

Faults (parameters; every fault also takes `duration_seconds`, after which it removes itself):

| fault | parameters | effect |
|---|---|---|
| latency | seconds (0-60], ratio (0-1] = 1, routes, seed | the request waits `seconds` before it is served |
| errors | ratio (0-1] = 1, status 400-599 = 500, routes, seed | the request is answered `status` (problem+json) |
| readiness | | /readyz answers 503 naming the check `fault-switch` |
| cpu | share (0-0.95] = 0.8 | a thread holds the interpreter for `share` of every 100 ms |
| memory | megabytes_per_second (0-1024], max_megabytes | memory grows (written pages) and is held |
| hold-connections | count (default: pool size + overflow) | connections checked out of the pool and held |
| io-errors | | stores that consult `active("io-errors")` fail with EIO |

`routes` are path prefixes matched by whole segments (`/api/orders` matches `/api/orders` and
`/api/orders/1`, not `/api/ordersx`); none means every route. latency and errors never touch
/livez, /readyz, /metrics or /admin/faults. Injected errors are counted under the route template
they hit, so SLIs by route see them.

cpu: the burn runs in C inside one call that never releases the interpreter lock, so the event
loop cannot run at all for that slice, as a process throttled by its CPU limit cannot run for the
rest of its CFS period. (A thread burning Python bytecode hands the lock over every 5 ms: the loop
slows down but is never frozen for a whole slice; measured in the tests, worst stall 34 ms against
157 ms for this burn at share 0.8.)

memory: under a memory limit (a pod's, or the cgroup or rlimit the local injector sets) the growth
ends in a kill: the kernel's OOM killer under a cgroup; under an rlimit the allocator refuses and
the switch then kills its own process with SIGKILL, as the OOM killer would have. Growth stops at
`max_megabytes` when given, otherwise when the process dies or the fault is removed (at most
MAX_BACKGROUND_SECONDS).

SHOPFLOOR_FAULTS syntax: faults separated by `;`, each `name[=value][:param=value]...`, where the
bare value is the fault's first parameter (latency: seconds, errors: ratio, cpu: share, memory:
megabytes_per_second, hold-connections: count) and a list (routes) is comma-separated, e.g.
`errors=0.5:routes=/api/orders;latency=0.2:ratio=0.1`.

Every fault that is on shows as `shopfloor_fault_active{fault="<name>"} 1` (0 once removed) and
is logged at WARNING when set and when removed, with its parameters.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import random
import re
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from prometheus_client import Gauge
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from shopfloor_common.auth import ADMIN_KEY_HEADER, admin_guard
from shopfloor_common.errors import PROBLEM_JSON, Problem, problem_body, validation_errors

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from shopfloor_common.health import Lifecycle
    from shopfloor_common.settings import ServiceSettings

log = logging.getLogger("shopfloor.faults")

FAULTS_PATH = "/admin/faults"
EXEMPT_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
READINESS_CHECK = "fault-switch"
CPU_PERIOD_SECONDS = 0.1  # the CFS period a CPU limit is enforced over
MEMORY_STEP_SECONDS = 0.1
MAX_BACKGROUND_SECONDS = 3600.0  # the longest a cpu or memory fault runs without a duration
REFUSED_IN_PROD = "fault injection is refused in prod"

FAULT_ACTIVE = Gauge("shopfloor_fault_active", "1 while the fault switch holds this fault on, else 0.", ["fault"])


# --- parameters -------------------------------------------------------------------------------


class FaultParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    primary: ClassVar[str | None] = None  # the parameter a bare SHOPFLOOR_FAULTS value sets

    duration_seconds: float | None = Field(
        default=None, gt=0, le=86400, description="Remove the fault by itself after this long."
    )

    def describe(self) -> str:
        values = self.model_dump(exclude_none=True)
        return " ".join(f"{key}={value}" for key, value in values.items() if value != []) or "(defaults)"


def _split_routes(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class _Sampled(FaultParameters):
    ratio: float = Field(default=1.0, gt=0, le=1, description="The share of requests it hits.")
    routes: list[str] = Field(default_factory=list, description="Path prefixes it applies to; empty = all.")
    seed: int | None = Field(default=None, description="Seed of the sampling, for a reproducible run.")

    @field_validator("routes", mode="before")
    @classmethod
    def _routes_from_text(cls, value: Any) -> Any:
        return _split_routes(value)

    @field_validator("routes")
    @classmethod
    def _routes_are_paths(cls, routes: list[str]) -> list[str]:
        bad = [route for route in routes if not route.startswith("/")]
        if bad:
            raise ValueError(f"routes are path prefixes starting with '/': {', '.join(bad)}")
        return [route.rstrip("/") or "/" for route in routes]

    def applies_to(self, path: str) -> bool:
        return not self.routes or any(
            route == "/" or path == route or path.startswith(route + "/") for route in self.routes
        )


class LatencyFault(_Sampled):
    primary: ClassVar[str | None] = "seconds"
    seconds: float = Field(gt=0, le=60, description="Delay added before the request is served.")


class ErrorsFault(_Sampled):
    primary: ClassVar[str | None] = "ratio"
    status: int = Field(default=500, ge=400, le=599, description="The status answered.")


class ReadinessFault(FaultParameters):
    pass


class CpuFault(FaultParameters):
    primary: ClassVar[str | None] = "share"
    # Below 1: at 1 the loop would never run again, not even to take the fault away.
    share: float = Field(default=0.8, gt=0, le=0.95, description="Share of every 100 ms the interpreter is held.")


class MemoryFault(FaultParameters):
    primary: ClassVar[str | None] = "megabytes_per_second"
    megabytes_per_second: float = Field(gt=0, le=1024, description="Growth rate.")
    max_megabytes: int | None = Field(default=None, ge=1, le=65536, description="Stop growing here.")


class HoldConnectionsFault(FaultParameters):
    primary: ClassVar[str | None] = "count"
    count: int | None = Field(default=None, ge=1, le=1000, description="Connections to hold; default all.")


class IoErrorsFault(FaultParameters):
    pass


FAULTS: dict[str, type[FaultParameters]] = {
    "latency": LatencyFault,
    "errors": ErrorsFault,
    "readiness": ReadinessFault,
    "cpu": CpuFault,
    "memory": MemoryFault,
    "hold-connections": HoldConnectionsFault,
    "io-errors": IoErrorsFault,
}
REQUEST_FAULTS = ("latency", "errors")


class FaultError(ValueError):
    """A fault or its parameters are wrong; `field` names the parameter (None: the fault itself)."""

    def __init__(self, fault: str, message: str, *, field: str | None = None, errors: list[Any] | None = None) -> None:
        super().__init__(f"{fault}: {field + ': ' if field else ''}{message}")
        self.fault = fault
        self.field = field
        self.errors = errors or []


def fault_parameters(name: str, raw: Mapping[str, Any]) -> FaultParameters:
    """The validated parameters of fault `name`, or FaultError naming what is wrong."""
    model = FAULTS.get(name)
    if model is None:
        raise FaultError(name, f"no such fault (known: {', '.join(FAULTS)})")
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        errors = validation_errors([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
        first = errors[0]
        raise FaultError(name, first["message"], field=first["field"], errors=errors) from None


_NAME = re.compile(r"^[a-z][a-z-]*$")


def parse_fault_spec(spec: str) -> list[tuple[str, FaultParameters]]:
    """SHOPFLOOR_FAULTS (module docstring) -> [(fault, parameters)], or FaultError naming the part."""
    faults: list[tuple[str, FaultParameters]] = []
    for part in (p.strip() for p in spec.split(";")):
        if not part:
            continue
        head, *options = part.split(":")
        name, has_value, value = head.partition("=")
        name = name.strip()
        if not _NAME.match(name) or name not in FAULTS:
            raise FaultError(name or part, f"no such fault (known: {', '.join(FAULTS)})")
        raw: dict[str, Any] = {}
        if has_value:
            primary = FAULTS[name].primary
            if primary is None:
                raise FaultError(name, f"takes no value, got {value!r}")
            raw[primary] = value.strip()
        for option in options:
            key, has_equals, option_value = option.partition("=")
            if not has_equals or not key.strip():
                raise FaultError(name, f"expected param=value, got {option!r}")
            raw[key.strip().replace("-", "_")] = option_value.strip()
        if any(existing == name for existing, _ in faults):
            raise FaultError(name, "given twice")
        faults.append((name, fault_parameters(name, raw)))
    return faults


# --- the switch -------------------------------------------------------------------------------


@dataclass
class ActiveFault:
    name: str
    parameters: FaultParameters
    source: str  # "environment" or "admin"
    since: datetime
    rng: random.Random
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    connections: list[AsyncConnection] = field(default_factory=list)
    expiry: asyncio.Task[None] | None = None
    note: str = ""  # what the fault did, for the listing (e.g. "held 12 of 12 connections")

    def view(self) -> dict[str, Any]:
        view = {
            "name": self.name,
            "parameters": self.parameters.model_dump(exclude_none=True),
            "source": self.source,
            "since": self.since.isoformat(),
        }
        if self.note:
            view["note"] = self.note
        return view


class FaultSwitch:
    """The faults one service process holds on (module docstring)."""

    def __init__(
        self,
        service: str,
        *,
        environment: str = "local",
        enabled: bool = True,
        admin_key: SecretStr | None = None,
        at_start: Sequence[tuple[str, FaultParameters]] = (),
    ) -> None:
        self.service = service
        self.environment = environment
        self.enabled = enabled
        self.admin_key = admin_key
        self.at_start = list(at_start)
        self._faults: dict[str, ActiveFault] = {}
        self._engines: list[AsyncEngine] = []
        self._lifecycle: Lifecycle | None = None
        self._lock = asyncio.Lock()
        self.request_faults: tuple[ActiveFault, ...] = ()  # what the middleware looks at per request
        if self.refusal is None:
            for name in FAULTS:
                FAULT_ACTIVE.labels(name).set(0)

    @classmethod
    def for_service(cls, settings: ServiceSettings) -> FaultSwitch:
        admin_key = getattr(settings, "admin_api_key", None)
        return cls(
            settings.service_name,
            environment=settings.environment,
            enabled=settings.faults_enabled,
            admin_key=admin_key if isinstance(admin_key, SecretStr) else None,
            at_start=parse_fault_spec(settings.shopfloor_faults),
        )

    @property
    def refusal(self) -> str | None:
        """Why this switch takes no fault at all, or None."""
        if self.environment == "prod":
            return REFUSED_IN_PROD
        if not self.enabled:
            return "fault injection is disabled here (FAULTS_ENABLED=false)"
        return None

    # --- what services use ----------------------------------------------------------------------

    def active(self, name: str) -> bool:
        """Whether fault `name` is on (e.g. catalog's image store asks for "io-errors")."""
        return name in self._faults

    def register_engine(self, engine: AsyncEngine) -> None:
        """The database pool that hold-connections drains."""
        self._engines.append(engine)

    def attach(self, lifecycle: Lifecycle) -> None:
        self._lifecycle = lifecycle

    def raise_if_io_fault(self, what: str) -> None:
        if self.active("io-errors"):
            raise OSError(errno.EIO, f"Input/output error ({what}; injected by the fault switch)")

    # --- setting and removing -------------------------------------------------------------------

    def listing(self) -> list[dict[str, Any]]:
        return [fault.view() for fault in self._faults.values()]

    async def set(self, name: str, raw: Mapping[str, Any] | FaultParameters, *, source: str = "admin") -> ActiveFault:
        """Switch fault `name` on (replacing it when already on). FaultError for a bad fault or
        parameter; Problem (409) when the fault cannot act in this service."""
        refusal = self.refusal
        if refusal is not None:
            raise Problem(403, refusal, type_="faults-refused")
        parameters = raw if isinstance(raw, FaultParameters) else fault_parameters(name, raw)
        async with self._lock:
            if name in self._faults:
                await self._remove(name, "replaced")
            fault = ActiveFault(
                name=name,
                parameters=parameters,
                source=source,
                since=datetime.now(UTC),
                rng=random.Random(getattr(parameters, "seed", None)),  # noqa: S311 - sampling, not secrets
            )
            await self._start(fault)
            self._faults[name] = fault
            self._refresh()
            if parameters.duration_seconds is not None:
                fault.expiry = asyncio.create_task(self._expire(name, parameters.duration_seconds))
        FAULT_ACTIVE.labels(name).set(1)
        log.warning(
            "fault on: %s %s (%s)%s",
            name,
            parameters.describe(),
            source,
            f"; {fault.note}" if fault.note else "",
            extra={"fault": name, "parameters": parameters.model_dump(exclude_none=True), "source": source},
        )
        return fault

    async def remove(self, name: str, reason: str = "removed") -> bool:
        async with self._lock:
            return await self._remove(name, reason)

    async def clear(self, reason: str = "removed") -> None:
        async with self._lock:
            for name in list(self._faults):
                await self._remove(name, reason)

    async def start(self) -> None:
        """Switch on the faults SHOPFLOOR_FAULTS named (the app's startup calls this)."""
        for name, parameters in self.at_start:
            await self.set(name, parameters, source="environment")

    async def _remove(self, name: str, reason: str) -> bool:
        fault = self._faults.pop(name, None)
        if fault is None:
            return False
        self._refresh()
        if fault.expiry is not None and fault.expiry is not asyncio.current_task():
            fault.expiry.cancel()
        await self._stop(fault)
        FAULT_ACTIVE.labels(name).set(0)
        log.warning("fault off: %s (%s)", name, reason, extra={"fault": name, "reason": reason})
        return True

    async def _expire(self, name: str, after: float) -> None:
        await asyncio.sleep(after)
        await self.remove(name, f"expired after {after:g}s")

    def _refresh(self) -> None:
        self.request_faults = tuple(self._faults[n] for n in REQUEST_FAULTS if n in self._faults)
        if self._lifecycle is not None:
            if "readiness" in self._faults:
                self._lifecycle.add_check(READINESS_CHECK, _failing_readiness)
            else:
                self._lifecycle.checks.pop(READINESS_CHECK, None)

    async def _start(self, fault: ActiveFault) -> None:
        parameters = fault.parameters
        if isinstance(parameters, CpuFault):
            fault.thread = _start_thread(f"fault-cpu-{self.service}", _burn_cpu, parameters.share, fault.stop)
        elif isinstance(parameters, MemoryFault):
            fault.thread = _start_thread(f"fault-memory-{self.service}", _grow_memory, parameters, fault.stop)
        elif isinstance(parameters, HoldConnectionsFault):
            await self._hold_connections(fault, parameters.count)

    async def _stop(self, fault: ActiveFault) -> None:
        fault.stop.set()
        if fault.thread is not None:
            await asyncio.to_thread(fault.thread.join, 5)
        for connection in fault.connections:
            try:
                await connection.close()
            except Exception as exc:  # a connection broken meanwhile is gone either way
                log.info("fault off: closing a held connection failed: %s", exc)
        fault.connections.clear()

    async def _hold_connections(self, fault: ActiveFault, count: int | None) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        pools = [(engine, _pool_capacity(engine)) for engine in self._engines]
        pools = [(engine, capacity) for engine, capacity in pools if capacity]
        if not pools:
            raise Problem(
                409,
                "hold-connections needs a database connection pool (PostgreSQL); this service has none",
                type_="fault-not-applicable",
            )
        wanted = 0
        for engine, capacity in pools:
            target = min(count, capacity) if count is not None else capacity
            wanted += target
            for _ in range(target):
                try:
                    fault.connections.append(await engine.connect())
                except (SQLAlchemyError, OSError) as exc:
                    # Requests hold the rest (or the database is away): hold what could be had.
                    log.info("hold-connections: stopped checking out: %s", exc)
                    break
        fault.note = f"holding {len(fault.connections)} of {wanted} connections"
        if not fault.connections:
            raise Problem(409, "hold-connections could not check out any connection", type_="fault-not-applicable")


async def _failing_readiness() -> None:
    raise RuntimeError("the fault switch holds the readiness fault on")


def _pool_capacity(engine: AsyncEngine) -> int:
    pool = engine.pool
    size = getattr(pool, "size", None)
    if size is None:  # NullPool (SQLite): nothing to exhaust
        return 0
    return int(size()) + max(int(getattr(pool, "_max_overflow", 0)), 0)


def _start_thread(name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


def _burn_cpu(share: float, stop: threading.Event) -> None:
    """Hold the interpreter for `share` of every period, bounded by MAX_BACKGROUND_SECONDS."""
    burn = share * CPU_PERIOD_SECONDS
    count = 100_000
    deadline = time.monotonic() + MAX_BACKGROUND_SECONDS
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.perf_counter()
        # One C call: sum() over a range never returns to the bytecode loop, so no other thread
        # gets the interpreter lock until it is done.
        sum(range(count))
        took = time.perf_counter() - started
        # Aim the next slice at `burn`: the machine's speed varies, and so does contention.
        count = max(10_000, min(int(count * min(max(burn / max(took, 1e-6), 0.5), 2.0)), 500_000_000))
        stop.wait(max(CPU_PERIOD_SECONDS - took, 0.0))


def _grow_memory(parameters: MemoryFault, stop: threading.Event) -> None:
    """Allocate and write `megabytes_per_second` until the cap, the stop or MAX_BACKGROUND_SECONDS."""
    held: list[bytes] = []
    step_bytes = int(parameters.megabytes_per_second * 1024 * 1024 * MEMORY_STEP_SECONDS)
    cap_bytes = parameters.max_megabytes * 1024 * 1024 if parameters.max_megabytes else None
    total = 0
    deadline = time.monotonic() + MAX_BACKGROUND_SECONDS
    while not stop.is_set() and time.monotonic() < deadline:
        if cap_bytes is None or total < cap_bytes:
            size = step_bytes if cap_bytes is None else min(step_bytes, cap_bytes - total)
            try:
                held.append(b"\xa5" * size)  # written, so resident: calloc'd zero pages would not count
            except MemoryError:
                log.error(
                    "memory fault: the allocator refused more memory after %d MB (the process's memory limit): "
                    "killing this process as the OOM killer would",
                    total // (1024 * 1024),
                    extra={"fault": "memory", "grown_megabytes": total // (1024 * 1024)},
                )
                held.clear()
                os.kill(os.getpid(), signal.SIGKILL)
                return
            total += size
        stop.wait(MEMORY_STEP_SECONDS)
    held.clear()


# --- HTTP: the middleware and the admin routes ------------------------------------------------


class FaultMiddleware:
    """latency and errors on the requests they select. Sits inside ObservabilityMiddleware, so an
    injected error or delay is counted and logged like a real one, under its route template."""

    def __init__(self, app: ASGIApp, *, switch: FaultSwitch, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self.switch = switch
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.switch.request_faults
        if not faults or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in EXEMPT_PATHS or path == FAULTS_PATH or path.startswith(FAULTS_PATH + "/"):
            await self.app(scope, receive, send)
            return
        for fault in faults:
            parameters = fault.parameters
            assert isinstance(parameters, _Sampled)
            if not parameters.applies_to(path) or fault.rng.random() >= parameters.ratio:
                continue
            if isinstance(parameters, LatencyFault):
                await asyncio.sleep(parameters.seconds)
            elif isinstance(parameters, ErrorsFault):
                self._resolve_route(scope)
                await _send_problem(
                    send, parameters.status, f"injected by the fault switch (errors, ratio {parameters.ratio:g})"
                )
                return
        await self.app(scope, receive, send)

    def _resolve_route(self, scope: Scope) -> None:
        # The router has not run; find the route it would take, for the metrics' route label.
        route = _endpoint_route(self.routes(), scope)
        if route is not None:
            scope["route"] = route


def _endpoint_route(routes: Sequence[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The route whose endpoint the router would call for `scope`, as the router records it in
    scope["route"]. FastAPI keeps a router added with include_router as one route of the app (its
    `effective_route_contexts()` are the endpoints): stopping at that route, which has no path,
    counted every injected error of the gateway (all of its routes are included) under
    `<unmatched>`, so no SLI saw them and a bad release never paged."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.FULL:
            continue
        contexts = getattr(route, "effective_route_contexts", None)
        if not callable(contexts):
            return route
        for context in contexts():
            inner, _ = context.matches(scope)
            if inner is Match.FULL:
                original: BaseRoute = context.original_route
                # FastAPI records an APIRoute itself, any other route as its prefixed copy.
                return original if isinstance(original, APIRoute) else (context.starlette_route or original)
        return None
    return None


async def _send_problem(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps(problem_body(status, detail, type_="injected-fault"))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def faults_router(switch: FaultSwitch) -> APIRouter:
    """The admin routes (module docstring); hidden from the OpenAPI document."""
    router = APIRouter(prefix=FAULTS_PATH, include_in_schema=False)
    check_key = admin_guard(switch.admin_key) if switch.admin_key is not None else None

    def authorize(request: Request) -> None:
        # Runs before the body is read or the fault name looked at.
        refusal = switch.refusal
        if refusal is not None:
            raise Problem(403, refusal, type_="faults-refused")
        if check_key is None:
            raise Problem(
                403,
                f"{switch.service} has no admin key (ADMIN_API_KEY): its faults can be set only by SHOPFLOOR_FAULTS "
                "at start",
                type_="faults-refused",
            )
        check_key(request.headers.get(ADMIN_KEY_HEADER))

    guarded = [Depends(authorize)]

    def known(name: str) -> str:
        if name not in FAULTS:
            raise Problem(404, f"no fault named {name!r} (known: {', '.join(FAULTS)})", type_="no-such-fault")
        return name

    @router.get("", dependencies=guarded)
    async def list_faults() -> dict[str, Any]:
        return {"service": switch.service, "active": switch.listing(), "available": list(FAULTS)}

    @router.put("/{name}", dependencies=guarded)
    async def set_fault(name: str, request: Request) -> dict[str, Any]:
        known(name)
        raw = await _json_object(request)
        try:
            fault = await switch.set(name, raw)
        except FaultError as exc:
            raise Problem(
                422,
                f"invalid fault parameters: {exc}",
                type_="validation",
                title="Invalid request",
                errors=exc.errors or [{"field": exc.field or "body", "in": "body", "message": str(exc)}],
            ) from None
        return fault.view()

    @router.delete("/{name}", dependencies=guarded, status_code=204)
    async def remove_fault(name: str) -> Response:
        await switch.remove(known(name))
        return Response(status_code=204)

    @router.delete("", dependencies=guarded, status_code=204)
    async def remove_all() -> Response:
        await switch.clear()
        return Response(status_code=204)

    return router


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = None
        problem = "not valid JSON"
    else:
        problem = "must be a JSON object of parameters"
    if not isinstance(value, dict):
        raise Problem(
            422,
            f"invalid request: body {problem}",
            type_="validation",
            title="Invalid request",
            errors=[{"field": "body", "in": "body", "message": problem}],
        )
    return value
