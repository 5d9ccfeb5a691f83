"""`shopfloor chaos run FAULT`: one catalogued fault on the local stack, watched, judged and recorded.

    async with ChaosStack.start(repo, state_dir, postgres_url=..., redis_url=...) as stack:
        record_dir = await run_fault(stack, "catalog-kill", RunOptions(hold_seconds=10))

A run: take the stock snapshot (the shop quiet) -> start a steady, bounded load through the edge
(Load) -> wait for the steady state (no SLO burning at the paging rate, no expected alert still
firing) -> `chaos run --rollback-strategy=always` the fault's experiment (chaos/experiments/), whose
provider asks this session's ControlServer to inject and then remove the fault -> wait until the
SLIs are back within objective -> stop the load -> `check-consistency` -> write the record
(shopfloor.chaos.record): record.json, record.md, journal.json, timeline.png, postmortem.md.

The small API other tools (labs) use:
    ChaosStack.start(...)            an ObservedStack behind DependencyProxies, ready for any fault
    ChaosSession(target, catalogue)  .inject(fault_id) / .remove(fault_id): one catalogued fault,
                                     with the UTC times it happened (`journal`)
    run_fault(stack, fault_id, options) -> the record directory

Every address is loopback; the load and every wait are bounded in count and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import re
import secrets
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web

from shopfloor.chaos.catalogue import Catalogue, Fault, ProxyLocal, alert_rules, load_catalogue
from shopfloor.chaos.experiments import EXPERIMENTS_DIR, local_experiment, steady_state_queries
from shopfloor.chaos.inject import ChaosTarget, InjectError, Injector, injector_for
from shopfloor.chaos.provider import TOKEN_HEADER
from shopfloor.chaos.proxy import DependencyProxies
from shopfloor.chaos.record import (
    Sample,
    blast_radius,
    draw_timeline,
    error_budget,
    iso,
    judge,
    per_second,
    postmortem_draft,
    write_markdown,
)
from shopfloor.local.processes import ManagedProcess
from shopfloor.local.stack import StackOptions
from shopfloor.observe.local_stack import ObservedStack, ObserveOptions
from shopfloor.observe.receiver import AlertEvent
from shopfloor.observe.slos import SloSource, load_slos, slos
from shopfloor_common.localserver import LOCAL_HOST

HOT_SKU = "MUG-001"  # the first product the load buys: the row the lock fault holds
SKUS = ("MUG-001", "MUG-002", "KETTLE-01", "TEE-BLK-M", "BOOK-SRE")
LOAD_LIMIT_SECONDS = 900  # the load stops by itself, whatever happens to the run
STEADY_TIMEOUT_SECONDS = 90.0
BASELINE_SECONDS = 4.0
RECOVERY_SLACK_SECONDS = 30.0  # how long past the recovery bound the run keeps looking
AFTER_RECOVERY_SECONDS = 2.0
CONSISTENCY_SETTLE_SECONDS = 45.0
STARTS_AT_SKEW_SECONDS = 1.0
EXPERIMENT_ATTEMPTS = 3  # a busy machine can leave the steady state for a moment just before it begins
STEADY_CHECKS = 3  # the steady state must hold on this many checks in a row (a second apart)
CHAOS_RUN_SLACK_SECONDS = 300.0
# A 5 s window is noisier than the 30 s one the baseline is read from: back "to where it was"
# allows half as much again (only for an SLO the busy machine kept outside its objective).
RECOVERED_OVER_BASELINE = 1.5  # Prometheus stamps an alert's startsAt at its evaluation


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # chaostoolkit colours its console lines


class ChaosError(Exception):
    """A run cannot start or finish; the message says what to do."""


def _now() -> float:
    return time.time()


# --- the session: inject and remove catalogued faults ------------------------------------------------


class ChaosSession:
    """Catalogued faults on one ChaosTarget; `journal` keeps (UTC epoch, what) of every step."""

    def __init__(self, target: ChaosTarget, catalogue: Catalogue) -> None:
        self.target = target
        self.catalogue = catalogue
        self.active: dict[str, Injector] = {}
        self.injected_at: dict[str, float] = {}
        self.removed_at: dict[str, float] = {}
        self.journal: list[tuple[float, str]] = []
        self._lock = asyncio.Lock()

    def fault(self, fault_id: str) -> Fault:
        try:
            return self.catalogue.fault(fault_id)
        except KeyError as exc:
            raise InjectError(str(exc.args[0])) from None

    async def inject(self, fault_id: str) -> float:
        """Inject `fault_id`; the epoch time it took effect."""
        async with self._lock:
            fault = self.fault(fault_id)
            if fault_id in self.active:
                raise InjectError(f"{fault_id} is injected already")
            local = None if fault.local is None else fault.local.model_dump(exclude_none=True)
            injector = injector_for(local, self.target)
            self.active[fault_id] = injector
            started = _now()
            try:
                await injector.inject()
            except BaseException:
                with contextlib.suppress(Exception):
                    await injector.remove()
                self.active.pop(fault_id, None)
                raise
            self.injected_at[fault_id] = started
            self.journal.append((started, f"injected {fault_id}"))
            return started

    async def remove(self, fault_id: str) -> float | None:
        """Remove `fault_id` (nothing when it is not injected); the epoch time it was removed."""
        async with self._lock:
            injector = self.active.pop(fault_id, None)
            if injector is None:
                return None
            removing = _now()
            await injector.remove()
            done = _now()
            self.removed_at[fault_id] = removing
            self.journal.append((removing, f"removing {fault_id}"))
            self.journal.append((done, f"removed {fault_id}: the service serves again"))
            return removing

    async def remove_all(self) -> None:
        for fault_id in list(self.active):
            with contextlib.suppress(Exception):
                await self.remove(fault_id)


class ControlServer:
    """POST /faults/<id>/inject|remove on loopback, for the Chaos Toolkit provider (provider.py);
    every request carries the session's token."""

    def __init__(self, session: ChaosSession) -> None:
        self.session = session
        self.token = secrets.token_urlsafe(24)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{LOCAL_HOST}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/faults/{fault}/{action}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOCAL_HOST, 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @staticmethod
    def _problem(status: int, title: str, detail: str) -> web.Response:
        return web.json_response(
            {"type": "about:blank", "title": title, "status": status, "detail": detail},
            status=status,
            content_type="application/problem+json",
        )

    async def _handle(self, request: web.Request) -> web.Response:
        if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), self.token):
            return self._problem(401, "Unauthorized", f"a valid {TOKEN_HEADER} is required")
        fault, action = request.match_info["fault"], request.match_info["action"]
        try:
            if action == "inject":
                at = await self.session.inject(fault)
            elif action == "remove":
                at = await self.session.remove(fault) or _now()
            else:
                return self._problem(404, "Not Found", f"no action {action!r}: inject or remove")
        except InjectError as exc:
            return self._problem(409, "Fault not applied", str(exc))
        except Exception as exc:  # a restart that failed, a service that did not answer: say which
            return self._problem(500, "Fault action failed", f"{action} {fault}: {type(exc).__name__}: {exc}")
        return web.json_response({"fault": fault, "action": action, "at": iso(at)})


def proxied_databases(catalogue: Catalogue) -> tuple[str, ...]:
    """The services whose PostgreSQL connections a catalogued fault acts on through a proxy."""
    return tuple(
        sorted(
            {
                str(f.local.service)
                for f in catalogue.faults
                if isinstance(f.local, ProxyLocal) and f.local.dependency == "postgres" and f.local.service
            }
        )
    )


def proxied_catalog(catalogue: Catalogue) -> bool:
    return any(isinstance(f.local, ProxyLocal) and f.local.dependency == "catalog" for f in catalogue.faults)


# --- the stack ---------------------------------------------------------------------------------------


@dataclass
class ChaosStack:
    """An ObservedStack behind fault proxies, with a session and its control server."""

    observed: ObservedStack
    proxies: DependencyProxies
    session: ChaosSession
    control: ControlServer
    source: SloSource
    repo: Path

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        repo: Path,
        state_dir: Path,
        *,
        postgres_url: str | None = None,
        redis_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        admin_key: str | None = None,
        say: Callable[[str], None] | None = None,
    ) -> AsyncIterator[ChaosStack]:
        catalogue = load_catalogue(repo)
        source = load_slos(repo)
        options = StackOptions(
            repo=repo,
            state_dir=state_dir,
            free_ports=True,
            edge_port=0,
            environ=environ,
            extra_env={"LOG_LEVEL": "WARNING", "ACCESS_LOG": "false", **(extra_env or {})},
            admin_key=admin_key,
            postgres_url=postgres_url,
            postgres_prefix="shopfloor_chaos",
            temporary_databases=True,
            redis_url=redis_url,
            ready_timeout_seconds=90,
            log_dir=state_dir / "logs",
        )
        # Proxies only where a catalogued local fault acts (catalog's database, Redis): every proxy
        # is a hop through this process's event loop, which the load and the edge share.
        proxies = DependencyProxies(
            postgres=proxied_databases(catalogue), redis=True, catalog=proxied_catalog(catalogue)
        )
        options = await proxies.prepare(options)
        observed = ObservedStack(options, ObserveOptions(prometheus_port=0, alertmanager_port=0), say=say)
        session = ChaosSession(ChaosTarget(observed.shop, proxies, hot_sku=HOT_SKU), catalogue)
        control = ControlServer(session)
        try:
            await observed.start()
            await control.start()
            await observed.wait_for_targets(timeout_seconds=60)
            yield cls(observed, proxies, session, control, source, repo)
        finally:
            await session.remove_all()
            await control.stop()
            await observed.stop()
            await proxies.stop()


# --- the load ----------------------------------------------------------------------------------------


def journey_of(source: SloSource, method: str, route: str) -> str:
    for journey in source.journeys:
        if any(r.method == method and r.route == route for r in journey.requests):
            return journey.name
    raise ChaosError(f"no journey of observability/slos.yaml has {method} {route}")


class Load:
    """A few clients through the edge at a fixed rate: browse, product page, checkout, the order,
    the home page. Every request becomes a Sample; order ids acknowledged are kept for the
    consistency check. Stops on `stop()` or after LOAD_LIMIT_SECONDS."""

    def __init__(self, base_url: str, source: SloSource, *, clients: int = 2, round_seconds: float = 0.4) -> None:
        self.base_url = base_url
        self.clients = clients
        self.round_seconds = round_seconds
        self.samples: list[Sample] = []
        self.acknowledged: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.routes = {
            "browse": ("GET", "/api/products"),
            "product": ("GET", "/api/products/{sku}"),
            "checkout": ("POST", "/api/orders"),
            "order": ("GET", "/api/orders/{order_id}"),
            "home": ("GET", "/"),
        }
        self.journeys = {name: journey_of(source, *route) for name, route in self.routes.items()}

    async def _call(
        self,
        session: aiohttp.ClientSession,
        name: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        method, route = self.routes[name]
        started, clock = _now(), time.monotonic()
        status, payload = 0, b""
        try:
            async with session.request(method, self.base_url + path, json=body, headers=headers) as answer:
                payload = await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        self.samples.append(Sample(started, self.journeys[name], f"{method} {route}", status, time.monotonic() - clock))
        return status, payload

    async def _client(self, number: int) -> None:
        skus = itertools.cycle(SKUS[number:] + SKUS[:number])
        deadline = time.monotonic() + LOAD_LIMIT_SECONDS
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while not self._stop.is_set() and time.monotonic() < deadline:
                started = time.monotonic()
                sku = next(skus)
                await self._call(session, "browse", "/api/products")
                await self._call(session, "product", f"/api/products/{sku}")
                order = {
                    "items": [{"sku": sku, "quantity": 1}],
                    "customer": {"name": "Chaos", "email": "chaos@example.com"},
                }
                status, payload = await self._call(
                    session, "checkout", "/api/orders", order, {"Idempotency-Key": uuid.uuid4().hex}
                )
                if status in (201, 202):
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        order_id = str(json.loads(payload)["id"])
                        self.acknowledged.append(order_id)
                        await self._call(session, "order", f"/api/orders/{order_id}")
                await self._call(session, "home", "/")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stop.wait(), max(0.0, self.round_seconds - (time.monotonic() - started))
                    )

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(self.clients)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# --- watching ----------------------------------------------------------------------------------------


def rule_for_seconds(repo: Path) -> dict[str, float]:
    """The longest `for:` of every alert name in the rule files (0 when it fires at once)."""
    from shopfloor.chaos.catalogue import RULE_FILES, duration_seconds

    longest: dict[str, float] = {}
    for pattern in RULE_FILES:
        for path in sorted(repo.glob(pattern)):
            for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups") or []:
                for rule in group.get("rules") or []:
                    if "alert" in rule:
                        wait = duration_seconds(str(rule["for"])) if rule.get("for") else 0.0
                        longest[rule["alert"]] = max(longest.get(rule["alert"], 0.0), wait)
    return longest


def _matches(labels: Mapping[str, str], matcher: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in matcher.items())


async def _firing(stack: ChaosStack) -> list[dict[str, str]]:
    samples = await stack.observed.query('ALERTS{alertstate="firing"}')
    return [sample["metric"] for sample in samples]


async def steady_state(stack: ChaosStack) -> list[str]:
    """What keeps the shop from its steady state now: SLOs burning at the paging rate."""
    burning = []
    for name, expr in steady_state_queries(stack.source, lab=True):
        for sample in await stack.observed.query(expr):
            if float(sample["value"][1]) != 0:
                burning.append(name)
    return burning


async def wait_steady(stack: ChaosStack, fault: Fault, *, timeout_seconds: float, say: Callable[[str], None]) -> None:
    """Until no SLO burns at the paging rate and, for every expected alert, some rule that can
    raise it is quiet (so it can fire anew, and its delivery is this run's)."""
    rules = alert_rules(stack.repo)
    deadline = time.monotonic() + timeout_seconds
    reasons: list[str] = []
    held = 0
    while time.monotonic() < deadline:
        reasons = [f"{name} burns" for name in await steady_state(stack)]
        firing = await _firing(stack)
        for matcher in fault.expect.alerts:
            able = [
                r
                for r in rules.get(matcher["alertname"], [])
                if all(r.labels.get(k, v) == v for k, v in matcher.items() if k != "alertname")
            ]
            busy = [alert for alert in firing if _matches(alert, matcher)]
            if busy and len(busy) >= max(1, len(able)):
                reasons.append(f"{matcher} still firing")
        held = 0 if reasons else held + 1
        if held >= STEADY_CHECKS:
            return
        await asyncio.sleep(1.0)
    raise ChaosError(f"the shop did not reach its steady state within {timeout_seconds:g}s: {'; '.join(reasons)}")


async def slo_errors(stack: ChaosStack, window: str, names: Sequence[str], at: float | None = None) -> dict[str, float]:
    """The error ratio of each SLO over `window` (NaN when there was no traffic: left out)."""
    values: dict[str, float] = {}
    async with stack.observed.client() as client:
        for sample in await client.query(f"slo:sli_error:ratio_rate{window}", at=at):
            name = sample["metric"].get("slo", "")
            value = float(sample["value"][1])
            if name in names and not math.isnan(value):
                values[name] = value
    return values


def degraded_slos(radius: Mapping[str, Any]) -> list[str]:
    """The SLOs (journey-sli) the load saw leave their objective while the fault was held: the
    ones whose recovery is awaited (a latency SLO a fault did not slow is not its to recover)."""
    return [f"{name}-{sli}" for name, entry in radius["journeys"].items() for sli in entry["degraded"]]


async def wait_recovered(
    stack: ChaosStack,
    names: Sequence[str],
    baseline: Mapping[str, float],
    *,
    timeout_seconds: float,
) -> float | None:
    """The epoch time from which every SLO of `names` was within objective on two checks in a row
    (the 5 s error ratio at most the error budget, or, when the machine kept the SLO outside it
    before the fault, at most RECOVERED_OVER_BASELINE times its 30 s ratio then); None if not
    within `timeout_seconds`. No SLO to wait for: recovered at once."""
    if not names:
        return _now()
    budgets = {slo.name: slo.error_budget for slo in slos(stack.source)}
    deadline = time.monotonic() + timeout_seconds
    first_good: float | None = None
    while time.monotonic() < deadline:
        checked = _now()
        current = await slo_errors(stack, "5s", names)
        # An SLO without traffic in the window (its requests still waiting on a timeout) is not
        # back yet: only a measured ratio within objective counts.
        good = all(
            name in current
            and current[name] <= max(budgets[name], RECOVERED_OVER_BASELINE * baseline.get(name, 0.0)) + 1e-9
            for name in names
        )
        if good:
            if first_good is not None:
                return first_good
            first_good = checked
        else:
            first_good = None
        await asyncio.sleep(0.5)
    return None


# --- one run -----------------------------------------------------------------------------------------


@dataclass
class RunOptions:
    hold_seconds: float | None = None  # default: the catalogue's duration
    records_dir: Path | None = None  # default: <repo>/var/chaos
    chaos_bin: Path | None = None  # default: `chaos` next to this Python
    baseline_seconds: float = BASELINE_SECONDS  # load before the fault: the blast radius's baseline
    say: Callable[[str], None] = field(default=lambda _message: None)


def chaos_executable(explicit: Path | None = None) -> Path:
    candidate = explicit or Path(sys.executable).parent / "chaos"
    if candidate.exists():
        return candidate
    found = shutil.which("chaos")
    if found:
        return Path(found)
    raise ChaosError(
        "the Chaos Toolkit CLI `chaos` is not installed: run `make venv` (chaostoolkit is in the repo's lock)"
    )


def judged_alerts(fault: Fault, hold: float, for_seconds: Mapping[str, float]) -> list[dict[str, Any]]:
    expected = []
    for matcher in fault.expect.alerts:
        wait = for_seconds.get(matcher["alertname"], 0.0)
        judged = wait < hold
        expected.append(
            {
                "matcher": dict(matcher),
                "judged": judged,
                "why_not_judged": None
                if judged
                else f"its rule waits {wait:g}s (for:) before firing, longer than the hold ({hold:g}s); "
                f"run with the catalogue's duration ({fault.duration}) to judge it",
                "fired_at": None,
                "seconds_after_injection": None,
            }
        )
    return expected


def _delivered_after(events: Sequence[AlertEvent], since: float) -> list[AlertEvent]:
    """Deliveries of alerts that started after `since` (an alert firing from before is not news)."""
    found = []
    for event in events:
        started = event.starts_at
        try:
            starts = datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() if started else None
        except ValueError:
            starts = None
        if event.received_at.timestamp() >= since and (starts is None or starts >= since - STARTS_AT_SKEW_SECONDS):
            found.append(event)
    return found


def state_changes(events: Sequence[AlertEvent], injected: float, until: float) -> list[dict[str, Any]]:
    """The first firing and the first resolved delivery of every alert (label set) until `until`:
    Alertmanager re-sends a group's firing alerts with every change in the group."""
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    changes = []
    for event in events:
        key = (event.status, tuple(sorted(event.labels.items())))
        if key in seen or event.received_at.timestamp() > until:
            continue
        seen.add(key)
        changes.append(
            {**event.to_json(), "seconds_after_injection": round(event.received_at.timestamp() - injected, 2)}
        )
    return changes


def _read_journal(directory: Path) -> dict[str, Any]:
    path = directory / "journal.json"
    if not path.exists():
        return {}
    journal: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return journal


async def _chaos_run(
    stack: ChaosStack, fault: Fault, hold: float, directory: Path, experiment_file: Path, options: RunOptions
) -> tuple[int, str]:
    """`chaos run` of the experiment, its provider pointed at this session; (exit code, last lines)."""
    argv = [
        str(chaos_executable(options.chaos_bin)),
        "--no-version-check",
        "--no-log-file",
        "--settings",
        str(directory / "chaostoolkit-settings.yaml"),
        "run",
        "--rollback-strategy=always",
        "--journal-path",
        str(directory / "journal.json"),
        "--var",
        f"hold_seconds:float={hold:g}",
        str(experiment_file),
    ]
    env = {
        **os.environ,
        "PROMETHEUS_URL": stack.observed.prometheus_url,
        "SHOP_URL": stack.observed.shop.edge_url,
        "SHOPFLOOR_CHAOS_CONTROL_URL": stack.control.url,
        "SHOPFLOOR_CHAOS_TOKEN": stack.control.token,
    }
    say = options.say
    say(f"chaos run {EXPERIMENTS_DIR}/{fault.id}.yaml --rollback-strategy=always (hold {hold:g}s)")
    process = ManagedProcess(
        "chaos",
        argv,
        env=env,
        cwd=stack.repo,
        sink=lambda _name, line: say(f"  chaostoolkit: {_ANSI.sub('', line)}"),
        tail_lines=80,
    )
    await process.start()
    try:
        code = await asyncio.wait_for(process.wait(), timeout=hold + CHAOS_RUN_SLACK_SECONDS)
    except TimeoutError:
        await process.stop(timeout_seconds=5)
        raise ChaosError(f"chaos run did not finish within {hold + CHAOS_RUN_SLACK_SECONDS:g}s") from None
    return code, _ANSI.sub("", process.tail_text(30))


async def run_fault(stack: ChaosStack, fault_id: str, options: RunOptions | None = None) -> Path:
    """One chaos run of `fault_id` on `stack` (module docstring); the record directory."""
    from shopfloor.measure.check_consistency import ConsistencyError, Endpoints, check_consistency, take_snapshot

    options = options or RunOptions()
    say = options.say
    try:
        fault = stack.session.catalogue.fault(fault_id)
    except KeyError as exc:
        raise ChaosError(str(exc.args[0])) from None
    if fault.local is None:
        raise ChaosError(f"{fault_id} cannot run on the local stack: {fault.local_why_not}")
    hold = options.hold_seconds if options.hold_seconds is not None else fault.duration_seconds
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = (options.records_dir or stack.repo / "var" / "chaos") / f"{stamp}-{fault_id}"
    directory.mkdir(parents=True, exist_ok=False)
    shop = stack.observed.shop
    # Straight to catalog and orders: the data's integrity is the question, not whether the
    # gateway's circuits have closed again.
    endpoints = Endpoints.direct(shop.url("catalog"), shop.url("orders"), shop.admin_key.value)

    say(f"{fault_id}: {fault.title}; hold {hold:g}s, recovery bound {fault.recovery_bound}")
    # A stack may run the same fault again: this run's times are the ones it records.
    stack.session.injected_at.pop(fault_id, None)
    stack.session.removed_at.pop(fault_id, None)
    snapshot = await take_snapshot(endpoints, settle_seconds=30)
    load = Load(shop.edge_url, stack.source)
    started = _now()
    load.start()
    try:
        say("load running through the edge; waiting for the steady state")
        await asyncio.sleep(options.baseline_seconds)
        names = [slo.name for slo in slos(stack.source)]
        experiment_file = directory / "experiment.yaml"
        experiment = local_experiment(fault, stack.source)
        experiment_file.write_text(yaml.safe_dump(experiment, sort_keys=False), encoding="utf-8")
        (directory / "chaostoolkit-settings.yaml").write_text("{}\n", encoding="utf-8")
        for attempt in range(1, EXPERIMENT_ATTEMPTS + 1):
            await wait_steady(stack, fault, timeout_seconds=STEADY_TIMEOUT_SECONDS, say=say)
            baseline = await slo_errors(stack, "30s", names)
            code, tail = await _chaos_run(stack, fault, hold, directory, experiment_file, options)
            if fault_id in stack.session.injected_at:
                break
            journal = _read_journal(directory)
            before = (journal.get("steady_states") or {}).get("before") or {}
            if before.get("steady_state_met") is False and attempt < EXPERIMENT_ATTEMPTS:
                failing = [p["activity"]["name"] for p in before.get("probes", []) if not p.get("tolerance_met")]
                say(
                    f"the steady state did not hold when the experiment began ({'; '.join(failing)}): "
                    f"waiting for it again (attempt {attempt + 1} of {EXPERIMENT_ATTEMPTS})"
                )
                continue
            raise ChaosError(f"the experiment did not inject {fault_id} (chaos exited {code}):\n{tail}")
        injected = stack.session.injected_at[fault_id]
        removed = stack.session.removed_at.get(fault_id)
        if removed is None:  # the rollback did not run: remove it ourselves, and the record says so
            say("the experiment's rollback did not remove the fault: removing it")
            removed = await stack.session.remove(fault_id) or _now()
        say(f"fault removed after {removed - injected:.1f}s; waiting for the SLIs to be back within objective")

        considered = degraded_slos(
            blast_radius(
                load.samples,
                stack.source,
                started=started,
                injected=injected,
                removed=removed,
                recovered=None,
                finished=removed,
            )
        )
        say(f"degraded while the fault was held: {', '.join(considered) or 'nothing'}")
        recovered = await wait_recovered(
            stack, considered, baseline, timeout_seconds=fault.recovery_seconds + RECOVERY_SLACK_SECONDS
        )
        say(f"SLIs back within objective after {recovered - removed:.1f}s" if recovered else "SLIs not back in time")
        await asyncio.sleep(AFTER_RECOVERY_SECONDS)
    finally:
        await load.stop()
        await stack.session.remove_all()
    finished = _now()
    say("load stopped; checking the stock and orders (check-consistency)")
    try:
        report = await check_consistency(
            endpoints,
            initial_stock=snapshot.initial_stock,
            acknowledged=load.acknowledged,
            settle_seconds=CONSISTENCY_SETTLE_SECONDS,
        )
        consistency: dict[str, Any] = report.as_json()
    except ConsistencyError as exc:
        consistency = {"consistent": False, "error": str(exc)}

    journal = (
        json.loads((directory / "journal.json").read_text(encoding="utf-8"))
        if (directory / "journal.json").exists()
        else {}
    )
    for_seconds = rule_for_seconds(stack.repo)
    expected = judged_alerts(fault, hold, for_seconds)
    events = _delivered_after(stack.observed.receiver.events, injected)
    detected: tuple[float, str] | None = None
    for entry in expected:
        first = next((e for e in events if e.status == "firing" and _matches(e.labels, entry["matcher"])), None)
        if first is not None:
            at = first.received_at.timestamp()
            entry["fired_at"] = iso(at)
            entry["seconds_after_injection"] = round(at - injected, 2)
            if entry["judged"] and (detected is None or at < detected[0]):
                detected = (at, ", ".join(f"{k}={v}" for k, v in entry["matcher"].items()))
    fired = state_changes(events, injected, finished)
    radius = blast_radius(
        load.samples,
        stack.source,
        started=started,
        injected=injected,
        removed=removed,
        recovered=recovered,
        finished=finished,
    )
    record: dict[str, Any] = {
        "fault": fault.id,
        "title": fault.title,
        "layer": fault.layer,
        "breaks": fault.breaks,
        "runbook": fault.runbook,
        "local": fault.local.model_dump(exclude_none=True),
        "hold_seconds": hold,
        "catalogue_duration_seconds": fault.duration_seconds,
        "recovery_bound_seconds": fault.recovery_seconds,
        "started_at": iso(started),
        "injected_at": iso(injected),
        "detected_at": iso(detected[0]) if detected else None,
        "detected_by": detected[1] if detected else None,
        "removed_at": iso(removed),
        "recovered_at": iso(recovered),
        "finished_at": iso(finished),
        "ttd_seconds": round(detected[0] - injected, 2) if detected else None,
        "ttr_seconds": round(recovered - removed, 2) if recovered is not None else None,
        "alerts": {"expected": expected, "fired": fired},
        "degraded": {"expected": list(fault.expect.degraded), "observed": radius["degraded"]},
        "blast_radius": radius,
        "error_budget": error_budget(load.samples, stack.source, seconds=finished - started),
        "consistency": consistency,
        "experiment": {
            "file": f"{EXPERIMENTS_DIR}/{fault.id}.yaml",
            "exit_code": code,
            "status": journal.get("status"),
            "deviated": journal.get("deviated"),
            "rollbacks": [
                {"name": r["activity"]["name"], "status": r["status"], "start": r["start"], "end": r["end"]}
                for r in journal.get("rollbacks", [])
            ],
        },
        "session_journal": [{"at": iso(at), "what": what} for at, what in stack.session.journal if at >= started],
        "load": {
            "requests": len(load.samples),
            "rate_per_second": len(load.samples) / max(finished - started, 1e-9),
            "acknowledged_orders": len(load.acknowledged),
        },
        "series": per_second(load.samples, started, finished),
    }
    record["verdict"] = judge(record)
    write_record(directory, record, journal)
    say(
        f"verdict {record['verdict']['result'].upper()}: TTD {record['ttd_seconds']}s, "
        f"TTR {record['ttr_seconds']}s -> {directory}"
    )
    return directory


def write_record(directory: Path, record: Mapping[str, Any], journal: Mapping[str, Any] | None) -> None:
    """record.json, record.md, timeline.png and postmortem.md in `directory`."""
    (directory / "record.json").write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2) + b"\n")
    (directory / "record.md").write_text(write_markdown(record), encoding="utf-8")
    draw_timeline(record, directory / "timeline.png")
    (directory / "postmortem.md").write_text(postmortem_draft(record, journal), encoding="utf-8")
