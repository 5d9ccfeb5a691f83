"""What `shopfloor lab verify` checks on the lab shop: a local-stack lab's `verify:` section.

    slis: [journeys]        under a short bounded load through the edge (load_seconds, default 2),
                            each journey of observability/slos.yaml within its availability
                            objective, by the lab rule: failed requests (5xx, as the SLOs count them)
                            at most the objective's error budget of the sample (0 for
                            99.9 % and fewer than 1000 requests)
    extra_latency: {service, path, max_ms}
                            the service answers `path` at most max_ms (median) slower than its own
                            /livez, measured side by side. Latency is judged this way, not against
                            the journeys' thresholds: on a shared 2-core machine a healthy shop's
                            medians went from 30 ms to 2.4 s with the load of other test suites,
                            which slows /livez alike; a latency fault slows only the work
    fault_active: true      every fault of the lab is still in effect (the tolerate rule)
    deploy: {svc: {K: v}}   the deploy repository's HEAD (deployed) sets K to v for svc; null = K
                            not set; ">=N" = a number at least N
    consistency: true       shopfloor check-consistency against the stock at the lab's start, with
                            the customers paused and orders PENDING for at most 15 s (given 25 s
                            to settle, unless a check before it failed already)
    no_lock: true           no session of catalog's database has sat in a transaction for 2 s
    postmortem: true        var/labs/<id>/postmortem.md passes `shopfloor postmortem lint` against
                            the alerts delivered, and its timeline names an alert the lab expects
    incident_report: true   var/labs/<id>/incident.md holds every field of the incident issue form

Every check returns (ok, message); verify passes only when all pass and the diagnosis is right.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from shopfloor.labs.common import HOT_SKU, read_env_file
from shopfloor.labs.model import Lab, lab_folder

MAX_REQUESTS_PER_JOURNEY = 300
GIT = shutil.which("git") or "git"
INCIDENT_FIELDS = (
    "Symptom",
    "Impact",
    "Start time",
    "Layer",
    "Suspected component",
    "Timeline",
    "Root cause",
    "Actions",
)


@dataclass
class CheckResult:
    name: str
    ok: bool
    message: str


def journey_request(journey: str) -> tuple[str, str] | None:
    return {
        "browse-products": ("GET", "/api/products"),
        "product-page": ("GET", f"/api/products/{HOT_SKU}"),
        "checkout": ("POST", "/api/orders"),
    }.get(journey)


async def _measure(edge: str, journey: str, seconds: float) -> tuple[int, int, list[float]]:
    method, path = journey_request(journey) or ("GET", "/api/products")
    failed = 0
    durations: list[float] = []
    deadline = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.monotonic() < deadline and len(durations) < MAX_REQUESTS_PER_JOURNEY:
            begun = time.monotonic()
            try:
                if method == "POST":
                    order = {"items": [{"sku": HOT_SKU, "quantity": 1}], "customer": {"name": "V", "email": "v@x.io"}}
                    headers = {"Idempotency-Key": f"verify-{uuid.uuid4().hex}"}
                    async with session.post(edge + path, json=order, headers=headers) as answer:
                        await answer.read()
                        bad = answer.status >= 500
                else:
                    async with session.get(edge + path) as answer:
                        await answer.read()
                        bad = answer.status >= 500
            except (aiohttp.ClientError, TimeoutError):
                bad = True
            durations.append(time.monotonic() - begun)
            failed += bad
    return len(durations), failed, durations


async def check_slis(repo: Path, edge: str, journeys: list[str], seconds: float) -> list[CheckResult]:
    """The availability SLI of each journey under a short load (the lab rule of the module docstring)."""
    from shopfloor.observe.slos import load_slos

    source = {j.name: j for j in load_slos(repo).journeys}
    results = await asyncio.gather(*(_measure(edge, name, seconds) for name in journeys))
    checks = []
    for name, (count, failed, durations) in zip(journeys, results, strict=True):
        journey = source[name]
        budget = int(count * (1 - journey.availability.objective / 100))
        median = statistics.median(durations) if durations else float("inf")
        checks.append(
            CheckResult(
                f"availability of {name}",
                count > 0 and failed <= budget,
                f"{count} requests, {failed} failed (at most {budget} allowed; median {median * 1000:.0f} ms)",
            )
        )
    return checks


async def _timed_gets(url: str, seconds: float) -> list[float]:
    durations: list[float] = []
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while time.monotonic() < deadline and len(durations) < MAX_REQUESTS_PER_JOURNEY:
            begun = time.monotonic()
            try:
                async with session.get(url) as answer:
                    await answer.read()
            except (aiohttp.ClientError, TimeoutError):
                pass
            durations.append(time.monotonic() - begun)
    return durations


async def check_extra_latency(state: Mapping[str, Any], spec: Mapping[str, Any], seconds: float) -> CheckResult:
    """How much longer a service takes to answer `path` than its own /livez, measured side by side:
    the machine's load slows both alike, a latency fault only the first (the fault switch never
    delays /livez), so the difference tells a slow dependency from a busy laptop."""
    service = str(spec["service"])
    base = state["services"][service]["url"]
    work, idle = await asyncio.gather(
        _timed_gets(base + str(spec["path"]), seconds), _timed_gets(base + "/livez", seconds)
    )
    extra = statistics.median(work) - statistics.median(idle) if work and idle else float("inf")
    limit = float(spec.get("max_ms", 150)) / 1000
    return CheckResult(
        f"{service} answers in time",
        extra <= limit,
        f"{spec['path']} takes {extra * 1000:.0f} ms longer than /livez (at most {limit * 1000:.0f} ms)",
    )


def check_deploy(state: Mapping[str, Any], wanted: Mapping[str, Mapping[str, Any]]) -> list[CheckResult]:
    import subprocess

    repo = state["deploy_repo"]
    checks = []
    head = subprocess.run(  # noqa: S603 - git on the lab's own repository
        [GIT, "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    synced = head == state.get("deployed")
    checks.append(
        CheckResult("deployed", synced, "HEAD is deployed" if synced else "HEAD is not deployed yet: wait a second")
    )
    for service, settings in wanted.items():
        text = subprocess.run(  # noqa: S603
            [GIT, "-C", repo, "show", f"HEAD:{service}.env"], capture_output=True, text=True, check=False
        ).stdout
        values = read_env_file(text)
        for key, expected in settings.items():
            actual = values.get(key)
            if expected is None:
                ok = actual is None
                want = "not set"
            elif isinstance(expected, str) and expected.startswith(">="):
                try:
                    ok = actual is not None and float(actual) >= float(expected[2:])
                except ValueError:
                    ok = False
                want = f"at least {expected[2:]}"
            else:
                ok = actual == str(expected)
                want = str(expected)
            checks.append(
                CheckResult(f"{service}: {key}", ok, f"is {actual if actual is not None else 'not set'}, want {want}")
            )
    return checks


CONSISTENCY_SETTLE_SECONDS = 25


async def check_consistency(state: Mapping[str, Any], *, settle: bool = True) -> CheckResult:
    """The consistency checker; with `settle`, an inconsistent answer is read again for up to
    CONSISTENCY_SETTLE_SECONDS (orders' reconciler finishing what a fix set free)."""
    from shopfloor.measure.check_consistency import ConsistencyError, Endpoints, read_initial_stock
    from shopfloor.measure.check_consistency import check_consistency as run_check

    services = state["services"]
    try:
        initial = read_initial_stock(Path(state["initial_stock"]))
        report = await run_check(
            Endpoints.direct(services["catalog"]["url"], services["orders"]["url"]),
            initial_stock=initial,
            max_pending_age_seconds=15,
            settle_seconds=CONSISTENCY_SETTLE_SECONDS if settle else 0,
        )
    except (ConsistencyError, OSError, ValueError) as exc:
        return CheckResult("consistency", False, f"could not check: {exc}")
    message = report.render().splitlines()[1]
    if not report.consistent and not settle:
        message += " (read once: another check fails already, so no time was given to settle)"
    return CheckResult("consistency", report.consistent, message)


async def check_no_lock(state: Mapping[str, Any]) -> CheckResult:
    import asyncpg

    database = state["databases"].get("catalog")
    url = state["postgres_url"].rsplit("/", 1)[0] + f"/{database}"
    connection = await asyncpg.connect(url, timeout=5)
    try:
        stuck = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'idle in transaction' "
            "AND now() - state_change > interval '2 seconds'",
            database,
        )
    finally:
        await connection.close()
    pids = ", ".join(str(row["pid"]) for row in stuck)
    return CheckResult(
        "no forgotten transaction", not stuck, f"sessions idle in a transaction: {pids}" if stuck else "none"
    )


def check_postmortem(repo: Path, lab: Lab, state: Mapping[str, Any]) -> CheckResult:
    from shopfloor.incidents.postmortem import ALERT_SOURCE, lint, timeline
    from shopfloor.observe.receiver import read_events

    path = lab_folder(repo, lab.id) / "postmortem.md"
    if not path.is_file():
        return CheckResult("postmortem", False, f"write it: {path.relative_to(repo)} (docs/postmortems/TEMPLATE.md)")
    text = path.read_text(encoding="utf-8")
    alerts_file = Path(state["alerts_file"])
    alerts = read_events(alerts_file) if alerts_file.exists() else []
    problems = lint(text, alerts=alerts, tolerance=timedelta(seconds=2))
    named = {e.what.partition(" ")[0] for e in timeline(text) if e.source == ALERT_SOURCE}
    if not named & set(lab.alerts):
        problems.append(
            f"the timeline names none of the alerts that fired ({', '.join(lab.alerts)}, from alertmanager)"
        )
    return CheckResult("postmortem", not problems, "; ".join(problems) or "lints against the alerts delivered")


def check_incident(repo: Path, lab: Lab) -> CheckResult:
    from shopfloor.incidents.postmortem import _sections

    path = lab_folder(repo, lab.id) / "incident.md"
    if not path.is_file():
        return CheckResult("incident report", False, f"write it: {path.relative_to(repo)}")
    sections = _sections(path.read_text(encoding="utf-8"))
    missing = [name for name in INCIDENT_FIELDS if not sections.get(name, "").strip()]
    return CheckResult(
        "incident report", not missing, f"missing or empty: {', '.join(missing)}" if missing else "every field filled"
    )


async def run_stack_checks(
    repo: Path, lab: Lab, state: Mapping[str, Any], fault_active: Mapping[str, bool], pause: Any
) -> list[CheckResult]:
    verify = lab.verify
    checks: list[CheckResult] = []
    if verify.get("fault_active"):
        gone = [fault for fault, on in fault_active.items() if not on] or ([] if fault_active else lab.faults)
        checks.append(
            CheckResult(
                "fault still active",
                not gone,
                "the fault is still there, and the shop lives with it"
                if not gone
                else f"{', '.join(gone)} no longer in effect: this lab's lesson is to tolerate it, not to remove it",
            )
        )
    if "deploy" in verify:
        checks += check_deploy(state, verify["deploy"])
    if verify.get("no_lock"):
        checks.append(await check_no_lock(state))
    if verify.get("extra_latency"):
        checks.append(await check_extra_latency(state, verify["extra_latency"], float(verify.get("load_seconds", 2))))
    if verify.get("slis"):
        checks += await check_slis(repo, state["edge_url"], verify["slis"], float(verify.get("load_seconds", 2)))
    if verify.get("consistency"):
        pause(False)
        try:
            # Waiting up to 25 s for the books to settle helps only a verify that can pass: when a
            # check above fails already, one reading says how the books stand, at once.
            checks.append(await check_consistency(state, settle=all(c.ok for c in checks)))
        finally:
            pause(True)
    if verify.get("incident_report"):
        checks.append(check_incident(repo, lab))
    if verify.get("postmortem"):
        checks.append(check_postmortem(repo, lab, state))
    return checks
