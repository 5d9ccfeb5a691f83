"""The local stack watched for real (`shopfloor run --observe`, make observe): every service, a real
Prometheus (Debian's 2.42) and Alertmanager (0.25) on free loopback ports, the local receiver, and
bounded traffic through the edge (browse, product page, checkout, the frontend) at a fixed rate.

- Prometheus scrapes every service with the cluster's labels and loads every rule file;
- the SLIs fill (the latency ones too), and `shopfloor slo report` draws them;
- killing catalog pages checkout availability (SLOFastBurn, lab profile) through Alertmanager to
  the receiver within the bound the lab profile gives (derived below), and restarting catalog
  resolves it within its own bound. The measured times are printed (pytest -s shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
import yaml

from api_gateway.settings import GatewaySettings
from orders.settings import OrdersSettings
from shopfloor.local.stack import StackOptions
from shopfloor.observe.alertmanager import load_routing
from shopfloor.observe.alerts import delivered
from shopfloor.observe.dashboards import PLATFORM_UID, dashboard_queries
from shopfloor.observe.local_stack import ObservedStack, ObserveOptions
from shopfloor.observe.prometheus import LAB_SLO_RULES, RULES_GLOB
from shopfloor.observe.report import make_report, render_table
from shopfloor.observe.slos import SloSource, duration_seconds, load_slos, slos

from ..conftest import ADMIN_KEY, REPO, clean_environment

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

SERVICES = ("api-gateway", "catalog", "frontend", "orders")
CHECKOUT = "checkout-availability"
SKUS = ("MUG-001", "MUG-002", "KETTLE-01", "TEE-BLK-M", "BOOK-SRE")
# Two clients, each a round (product list, product page, checkout, home page) every 0.25 s: about
# 8 checkouts a second, well under the gateway's rate limit (1200/minute per client).
CLIENTS = 2
ROUND_SECONDS = 0.25
TRAFFIC_LIMIT_SECONDS = 200  # the traffic stops by itself, whatever happens to the test
# A checkout that fails because catalog is gone is answered within this: connection refused at
# once, a couple of retries with at most 0.5 s backoff (shopfloor_common.client), then the
# breakers answer at once.
FAILING_ANSWER_SECONDS = 1.0
# Prometheus -> Alertmanager -> receiver: two HTTP hops on loopback, and a busy 2-core machine.
HOPS_SECONDS = 1.0


@dataclass(frozen=True)
class Bounds:
    alert: float  # fault -> the fastest burn alert delivered
    resolve_fast: float  # catalog ready again -> that alert's resolve delivered
    resolve_slower: float  # ... the second fast-burn alert's (longer windows) resolve


def lab_bounds(source: SloSource) -> Bounds:
    """What the lab profile promises for a total outage of checkout (every checkout a 5xx).

    Firing: the first failing checkout is answered within a round plus FAILING_ANSWER_SECONDS;
    the 5xx series is new, so rate() needs two scrapes of it; the error ratio over the long window
    passes factor x budget after factor x budget x long seconds of a total outage (under a second
    for 14.4 x 0.001 x 1m); the rule group is evaluated every scrape interval; Alertmanager waits
    group_wait (page, lab) before the first notification; then the hops.

    Resolving, from catalog ready: the breakers in front of it (orders -> catalog, gateway ->
    orders) stay open up to their reset time each; the last 5xx leaves the short window after
    that window; two scrapes; an evaluation; Alertmanager sends a resolve at its next
    group_interval; then the hops."""
    scrape = duration_seconds(source.lab.scrape_interval)
    page = load_routing(REPO).timings["lab"]["page"]
    fast, slower = sorted(
        (a for a in source.burn_alerts if a.alert == "SLOFastBurn"), key=lambda a: duration_seconds(a.long)
    )[:2]
    budget = next(slo.error_budget for slo in slos(source) if slo.name == CHECKOUT)
    long_window = duration_seconds(fast.long) / source.lab.compress
    alert = (
        ROUND_SECONDS
        + FAILING_ANSWER_SECONDS
        + 2 * scrape
        + fast.factor * budget * long_window
        + scrape
        + duration_seconds(page.group_wait)
        + HOPS_SECONDS
    )
    breakers = OrdersSettings.model_fields["catalog_breaker_reset_seconds"].default + (
        GatewaySettings.model_fields["breaker_reset_seconds"].default
    )
    tail = 2 * scrape + scrape + duration_seconds(page.group_interval) + HOPS_SECONDS
    return Bounds(
        alert=alert,
        resolve_fast=breakers + FAILING_ANSWER_SECONDS + duration_seconds(fast.short) / source.lab.compress + tail,
        resolve_slower=breakers + FAILING_ANSWER_SECONDS + duration_seconds(slower.short) / source.lab.compress + tail,
    )


class Traffic:
    """A few clients through the edge at a fixed rate, counting answers by (route, status)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.answers: Counter[tuple[str, int]] = Counter()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _client(self, number: int) -> None:
        skus = itertools.cycle(SKUS[number:] + SKUS[:number])
        deadline = time.monotonic() + TRAFFIC_LIMIT_SECONDS
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._stop.is_set() and time.monotonic() < deadline:
                started = time.monotonic()
                sku = next(skus)
                order = {
                    "items": [{"sku": sku, "quantity": 1}],
                    "customer": {"name": "E2E", "email": "e2e@example.com"},
                }
                calls = [
                    ("browse", "GET", "/api/products", None, {}),
                    ("product", "GET", f"/api/products/{sku}", None, {}),
                    ("checkout", "POST", "/api/orders", order, {"Idempotency-Key": uuid.uuid4().hex}),
                    ("home", "GET", "/", None, {}),
                ]
                placed = ""
                for name, method, path, body, headers in calls:
                    try:
                        async with session.request(method, self.base_url + path, json=body, headers=headers) as answer:
                            payload = await answer.read()
                            self.answers[(name, answer.status)] += 1
                            if name == "checkout" and answer.status in (201, 202):
                                placed = json.loads(payload)["id"]
                    except (aiohttp.ClientError, TimeoutError):
                        self.answers[(name, 0)] += 1
                if placed:  # the order-status journey: the shopper looks at the order
                    try:
                        async with session.get(f"{self.base_url}/api/orders/{placed}") as answer:
                            await answer.read()
                            self.answers[("order", answer.status)] += 1
                    except (aiohttp.ClientError, TimeoutError):
                        self.answers[("order", 0)] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), max(0.0, ROUND_SECONDS - (time.monotonic() - started)))

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(CLIENTS)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


@dataclass
class Watched:
    stack: ObservedStack
    traffic: Traffic
    source: SloSource


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def watched(
    tmp_path_factory: pytest.TempPathFactory, prometheus_and_alertmanager: None
) -> AsyncIterator[Watched]:
    state = tmp_path_factory.mktemp("observed")
    stack = ObservedStack(
        StackOptions(
            repo=REPO,
            state_dir=state,
            free_ports=True,
            edge_port=0,
            environ=clean_environment(),
            # The limiter stays on (its series are on the dashboards) but above what the traffic
            # sends in a minute: on a busy machine the module's stack lives long enough for the
            # background traffic plus the tests' own requests to pass the default 1200/minute.
            extra_env={"LOG_LEVEL": "WARNING", "ACCESS_LOG": "false", "RATE_LIMIT": "100000/minute"},
            admin_key=ADMIN_KEY,
            ready_timeout_seconds=60,
        ),
        ObserveOptions(prometheus_port=0, alertmanager_port=0),
    )
    await stack.start()
    traffic = Traffic(stack.shop.edge_url)
    try:
        traffic.start()
        yield Watched(stack, traffic, load_slos(REPO))
    finally:
        await traffic.stop()
        await stack.stop()
        print(f"\ntraffic answers: {dict(sorted(traffic.answers.items()))}")


async def wait_for_value(stack: ObservedStack, expr: str, within: float) -> float:
    """The first value of `expr` that is a number (not NaN: the SLI of a window without traffic)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for sample in await stack.query(expr):
            value = float(sample["value"][1])
            if value == value:
                return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"{expr} has no value after {within}s")


async def test_prometheus_scrapes_every_service_with_the_cluster_labels_and_loads_every_rule_file(
    watched: Watched,
) -> None:
    stack = watched.stack
    await stack.wait_for_targets(timeout_seconds=20)
    up = await stack.query('up{namespace="shopfloor"}')
    targets = {
        sample["metric"]["job"]: ({k: v for k, v in sample["metric"].items() if k != "instance"}, sample["value"][1])
        for sample in up
    }
    assert targets == {
        name: ({"__name__": "up", "job": name, "service": f"{name}-service", "namespace": "shopfloor"}, "1")
        for name in SERVICES
    }
    rule_files = [*sorted(REPO.glob(str(RULES_GLOB))), REPO / LAB_SLO_RULES]
    expected = {
        (str(path), group["name"])
        for path in rule_files
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    }
    async with stack.client() as client:
        loaded = {(group["file"], group["name"]) for group in await client.rule_groups()}
    assert loaded == expected
    assert any(name.startswith("slo-checkout") for _, name in loaded)


@pytest.mark.parametrize(
    "slo",
    [
        CHECKOUT,
        "checkout-latency",
        "browse-products-availability",
        "browse-products-latency",
        "web-pages-availability",
        "web-pages-latency",
        "product-page-availability",
        "product-page-latency",
        "order-status-availability",
        "order-status-latency",
    ],
)
async def test_every_sli_of_the_traffic_fills(watched: Watched, slo: str) -> None:
    """The rules select series the services really export (route templates, `le` spellings)."""
    stack = watched.stack
    # Once checkouts are counted every SLI with traffic has had its scrapes: then a few seconds do.
    await wait_for_value(stack, f'slo:sli_error:ratio_rate1m{{slo="{CHECKOUT}"}}', within=30)
    await wait_for_value(stack, f'slo:sli_error:ratio_rate1m{{slo="{slo}"}}', within=5)


async def test_the_slo_report_draws_the_slis(watched: Watched, tmp_path: Path) -> None:
    stack = watched.stack
    await wait_for_value(stack, f'slo:sli_error:ratio_rate1m{{slo="{CHECKOUT}"}}', within=30)
    report = await make_report(stack.prometheus_url, watched.source, since_seconds=300, since_text="5m", out=tmp_path)
    table = render_table(report)
    print("\n" + table)
    assert "lab profile" in table
    checkout = next(s for s in report.statuses if s.slo == "checkout-latency")
    assert checkout.objective == pytest.approx(0.99)
    assert 0.0 <= checkout.sli_value <= 1.0
    assert sorted(p.name for p in report.figures) == sorted(
        f"slo-{journey.name}.png" for journey in watched.source.journeys
    )
    for figure in report.figures:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert figure.stat().st_size > 20_000, f"{figure} is too small to hold three plots"


async def test_killing_catalog_pages_checkout_availability_and_restarting_it_resolves_it(watched: Watched) -> None:
    stack, source = watched.stack, watched.source
    bounds = lab_bounds(source)
    fast_alert = {"alertname": "SLOFastBurn", "slo": CHECKOUT, "long_window": "1m"}
    slower_alert = {"alertname": "SLOFastBurn", "slo": CHECKOUT, "long_window": "6m"}
    # A clean start: checkouts are answered and nothing burns.
    assert await wait_for_value(stack, f'slo:sli_error:ratio_rate5s{{slo="{CHECKOUT}"}}', within=30) == 0
    assert await stack.query(f'ALERTS{{slo="{CHECKOUT}"}}') == []

    fault = time.monotonic()
    await stack.shop.stop_service("catalog", sig=signal.SIGKILL)
    fired = await stack.wait_for_alert(fast_alert, after=fault, timeout_seconds=bounds.alert + 30)
    to_alert = fired.monotonic - fault if fired.monotonic else float("inf")

    restarted = time.monotonic()
    await stack.shop.restart_service("catalog")
    ready = time.monotonic()
    resolved = await stack.wait_for_alert(fast_alert, status="resolved", after=ready, timeout_seconds=90)
    resolved_slower = await stack.wait_for_alert(slower_alert, status="resolved", after=ready, timeout_seconds=90)
    assert resolved.monotonic is not None
    assert resolved_slower.monotonic is not None
    print(
        f"\nfault -> SLOFastBurn {CHECKOUT} (1m/5s) delivered: {to_alert:.1f}s (bound {bounds.alert:.1f}s)"
        f"\ncatalog restart took {ready - restarted:.1f}s"
        f"\ncatalog ready -> resolved (1m/5s): {resolved.monotonic - ready:.1f}s (bound {bounds.resolve_fast:.1f}s)"
        f"\ncatalog ready -> resolved (6m/30s): {resolved_slower.monotonic - ready:.1f}s "
        f"(bound {bounds.resolve_slower:.1f}s)"
        f"\nfault -> resolved (1m/5s): {resolved.monotonic - fault:.1f}s"
    )
    assert fired.receiver == "page"
    assert fired.severity == "critical"
    assert "runbooks/SLOFastBurn.md" in fired.annotations["runbook_url"]
    assert to_alert <= bounds.alert
    assert resolved.monotonic - ready <= bounds.resolve_fast
    assert resolved_slower.monotonic - ready <= bounds.resolve_slower

    # What `shopfloor alerts` lists from the receiver's file.
    listed = json.loads(delivered(stack.alerts_file, limit=0, as_json=True))
    checkout_pages = [
        (entry["status"], entry["receiver"], entry["labels"]["long_window"])
        for entry in listed
        if entry["labels"]["alertname"] == "SLOFastBurn" and entry["labels"]["slo"] == CHECKOUT
    ]
    assert ("firing", "page", "1m") in checkout_pages
    assert ("resolved", "page", "1m") in checkout_pages
    table = delivered(stack.alerts_file, limit=0, as_json=False)
    assert "slo=checkout-availability" in table
    assert table.splitlines()[0].split() == ["received", "status", "receiver", "alert", "severity", "where", "summary"]


async def give_the_reconciler_a_release(stack: ObservedStack) -> None:
    """An order cancelled while catalog is down: orders answers at once and leaves the stock release
    to its reconciler, which does it once catalog is back (orders_reconciled_total{outcome="released"})."""
    base = stack.shop.edge_url
    sku = "E2E-RECONCILE"  # a product of its own: the traffic may have sold the demo ones out
    product = {"sku": sku, "name": "Reconciled", "category": "e2e", "price_cents": 100, "stock": 5}
    order = {"items": [{"sku": sku, "quantity": 1}], "customer": {"name": "E2E", "email": "e2e@example.com"}}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.post(f"{base}/api/products", json=product, headers={"X-API-Key": ADMIN_KEY}) as created:
            assert created.status == 201, await created.text()
        async with session.post(f"{base}/api/orders", json=order, headers={"Idempotency-Key": uuid.uuid4().hex}) as r:
            placed = await r.json()
            assert (r.status, placed["status"]) == (201, "CONFIRMED"), placed
            order_id = placed["id"]
        await stack.shop.stop_service("catalog")
        try:
            # Straight to orders: the traffic's failing checkouts may have opened the gateway's circuit.
            async with session.post(f"{stack.shop.url('orders')}/orders/{order_id}/cancel") as answer:
                assert answer.status == 200, await answer.text()
                assert (await answer.json()).get("release_pending") is True
        finally:
            await stack.shop.restart_service("catalog")
    await wait_for_value(stack, 'sum(orders_reconciled_total{outcome="released"})', within=30)


async def test_every_query_of_the_service_and_slo_dashboards_returns_data(watched: Watched) -> None:
    """The one panel that `needs` more than the journeys' traffic (the reconciler's work) gets it
    first. Platform-only queries (kube-state-metrics,
    cAdvisor, node_exporter: no Kubernetes, containers or node exporter on the local stack) are
    exempt, each printed with its reason."""
    stack = watched.stack
    await give_the_reconciler_a_release(stack)
    await wait_for_value(stack, f'slo:sli_error:ratio_rate1m{{slo="{CHECKOUT}"}}', within=30)
    queries = dashboard_queries(REPO, "lab")
    exempt = [q for q in queries if q.platform_only]
    checked = [q for q in queries if not q.platform_only]
    assert checked
    assert exempt
    assert {q.dashboard for q in exempt} == {PLATFORM_UID}, "only the platform dashboard may read platform series"
    empty: list[str] = []
    deadline = time.monotonic() + 30
    for query in checked:
        while True:
            samples = await stack.query(query.expr)
            if samples or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        if not samples:
            empty.append(f"{query.dashboard} / {query.panel} ({query.ref_id}): {query.expr}")
    print(f"\n{len(checked)} dashboard queries returned data; exempt ({len(exempt)}):")
    for query in exempt:
        print(f"  {query.dashboard} / {query.panel}: {query.platform_only}")
    assert not empty, "dashboard queries with no data on the local stack:\n" + "\n".join(empty)
