"""Grafana dashboards generated from the SLO source and the services' code (grafana-foundation-sdk).

Three kinds, written by `shopfloor slo generate` to observability/generated/dashboards/<uid>.json:

- the SLO overview (`shopfloor-slo-overview`): one row per journey of slos.yaml: each SLI now and
  over the SLO window against its objective, the error budget left, the burn rate over every
  window a burn-rate alert reads; all from the recording rules slo_rules.py generates, and
  linked to the burn-rate runbooks and to the dashboards of the services on the journey's path;
- one per service under apps/ (`shopfloor-service-<name>`): RED per route and saturation for
  all, and a row per capability only where the service's code exports its metrics
  (service_metrics.py): dependencies (upstream calls, circuit breakers), cache, rate limit,
  orders (reconciler lag, outcomes);
- the platform (`shopfloor-platform`): pods, restarts, containers, nodes, HPAs, from
  kube-state-metrics, cAdvisor and node_exporter (PLATFORM_METRICS says which series come from
  where, and why the local stack has none of them).

Every dashboard has a Prometheus datasource variable and `namespace`, is validated against
Grafana's dashboard schema (dashboard_schema.py) before it is written, and names only series
that exist: a service dashboard only metrics the service exports, the SLO overview only the
generated recording rules, the platform dashboard only PLATFORM_METRICS; the generator refuses
anything else, naming the metric. `dashboard_queries` lists every query with its variables
filled in for the local stack, for the end-to-end test that runs them against Prometheus.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig, StackingConfig
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as gm
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode, StackingMode

from shopfloor.observe.dashboard_schema import dashboard_errors, load_schema
from shopfloor.observe.promql import metric_names
from shopfloor.observe.service_metrics import ServiceMetrics, exported_metrics
from shopfloor.observe.slo_rules import (
    BUDGET_REMAINING_RECORD,
    OBJECTIVE_RECORD,
    RUNBOOK_BASE,
    Profile,
    rule_groups,
    sli_error_record,
    window,
)
from shopfloor.observe.slos import Journey, Slo, SloError, SloSource, duration_seconds, load_slos, slos

DASHBOARDS = Path("observability") / "generated" / "dashboards"
SLO_OVERVIEW_UID = "shopfloor-slo-overview"
PLATFORM_UID = "shopfloor-platform"
TAG = "shopfloor"
DATASOURCE = gm.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
DEFAULT_NAMESPACE = "shopfloor"
SEVERITY_COLORS = {"critical": "red", "warning": "orange"}


def service_uid(service: str) -> str:
    return f"shopfloor-service-{service}"


class DashboardError(SloError):
    """A dashboard could not be generated as asked; the message names the dashboard and why."""


# Series no process of the local stack exports: they describe Kubernetes objects, containers and
# nodes. In the clusters kube-prometheus-stack scrapes them; locally they do not exist, so the
# end-to-end test exempts every query that reads one (dashboard_queries marks them).
PLATFORM_SOURCES = {
    "kube-state-metrics": "the Kubernetes API's objects (pods, deployments, nodes, HPAs) as series; "
    "the local stack has no Kubernetes API",
    "cAdvisor": "container CPU and memory from each node's kubelet; the local stack runs the services "
    "as plain processes, not containers",
    "node_exporter": "node CPU and memory from the node-exporter DaemonSet; the local Prometheus scrapes "
    "only the shop's services",
}
PLATFORM_METRICS = {
    "kube_pod_status_phase": "kube-state-metrics",
    "kube_pod_status_ready": "kube-state-metrics",
    "kube_pod_container_status_restarts_total": "kube-state-metrics",
    "kube_pod_container_resource_requests": "kube-state-metrics",
    "kube_pod_container_resource_limits": "kube-state-metrics",
    "kube_deployment_spec_replicas": "kube-state-metrics",
    "kube_deployment_status_replicas_available": "kube-state-metrics",
    "kube_node_info": "kube-state-metrics",
    "kube_node_status_condition": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_min_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_max_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_status_current_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_status_desired_replicas": "kube-state-metrics",
    "container_cpu_usage_seconds_total": "cAdvisor",
    "container_memory_working_set_bytes": "cAdvisor",
    "container_cpu_cfs_periods_total": "cAdvisor",
    "container_cpu_cfs_throttled_periods_total": "cAdvisor",
    "node_cpu_seconds_total": "node_exporter",
    "node_memory_MemAvailable_bytes": "node_exporter",
    "node_memory_MemTotal_bytes": "node_exporter",
}


# --- what a dashboard holds, before the SDK renders it ---------------------------------------


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Link:
    title: str
    url: str
    new_tab: bool = False


@dataclass(frozen=True)
class PanelSpec:
    title: str
    queries: tuple[Query, ...]
    kind: Literal["timeseries", "stat", "state"] = "timeseries"
    unit: str = "short"
    description: str = ""
    width: int = 8
    height: int = 8
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    # (value, colour) steps, the base step (value None) first
    thresholds: tuple[tuple[float | None, str], ...] = ()
    threshold_lines: bool = False
    stacked: bool = False
    value_texts: tuple[tuple[str, str, str], ...] = ()  # (value, text, colour) for a state timeline
    links: tuple[Link, ...] = ()
    # What must have happened for its series to exist, when steady traffic is not enough.
    needs: str = ""


@dataclass(frozen=True)
class RowSpec:
    title: str
    panels: tuple[PanelSpec, ...]


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    namespace_query: str
    rows: tuple[RowSpec, ...]
    time_from: str = "now-6h"
    namespace_description: str = "The Kubernetes namespace of the shop (`shopfloor` in every environment)."

    def queries(self) -> Iterator[Query]:
        for row in self.rows:
            for panel in row.panels:
                yield from panel.queries


# --- the SLO overview -------------------------------------------------------------------------


def _burn_windows(source: SloSource) -> list[str]:
    """Every window a burn-rate alert reads (production names), shortest first."""
    found = {w for alert in source.burn_alerts for w in (alert.long, alert.short)}
    return sorted(found, key=duration_seconds)


def _sli_panel(slo: Slo, source: SloSource, profile: Profile, links: tuple[Link, ...]) -> PanelSpec:
    now = _burn_windows(source)[0]
    match = f'{{slo="{slo.name}"}}'
    requests = ", ".join(f"{r.method} {r.route}" for r in slo.journey.requests)
    if slo.sli == "availability":
        good = "answered without a 5xx"
        title = f"{slo.journey.name}: availability"
    else:
        good = f"answered within {slo.latency_threshold:g}s"
        title = f"{slo.journey.name}: latency under {slo.latency_threshold:g}s"
    return PanelSpec(
        title=title,
        kind="stat",
        unit="percentunit",
        decimals=3,
        width=5,
        height=6,
        description=f"{slo.journey.description} Share of {slo.journey.service}'s {requests} requests {good}, "
        f"over the last {now} and over "
        f"the {source.window} SLO window; green at or above the {slo.objective * 100:g}% objective.",
        queries=(
            Query(f"1 - {sli_error_record(window(source, now, profile))}{match}", f"last {now}", instant=True),
            Query(
                f"1 - {sli_error_record(window(source, source.window, profile))}{match}",
                f"last {source.window}",
                instant=True,
            ),
            Query(f"{OBJECTIVE_RECORD}{match}", "objective", instant=True),
        ),
        thresholds=((None, "red"), (slo.objective, "green")),
        links=links,
    )


def _budget_panel(journey_name: str, source: SloSource) -> PanelSpec:
    return PanelSpec(
        title=f"{journey_name}: error budget left",
        kind="stat",
        unit="percentunit",
        decimals=1,
        width=4,
        height=6,
        description=f"Share of the {source.window} error budget not yet spent, per SLI; below 0 the objective is "
        "missed over the window.",
        queries=(Query(f'{BUDGET_REMAINING_RECORD}{{journey="{journey_name}"}}', "{{sli}}", instant=True),),
        thresholds=((None, "red"), (0.0, "orange"), (0.25, "green")),
    )


def _burn_panel(slo: Slo, source: SloSource, profile: Profile) -> PanelSpec:
    # One dashed line per alert factor, coloured by its severity; a factor that pages wins.
    by_severity = sorted(source.burn_alerts, key=lambda alert: alert.severity == "critical")
    factors = {alert.factor: SEVERITY_COLORS[alert.severity] for alert in by_severity}
    rules = "; ".join(
        f"{a.alert} ({a.severity}) above {a.factor:g}x over {a.long} and {a.short}" for a in source.burn_alerts
    )
    return PanelSpec(
        title=f"{slo.journey.name}: {slo.sli} burn rate",
        unit="short",
        width=5,
        height=6,
        description=f"How many times faster than the objective allows the budget burns (1 = spent exactly at the end "
        f"of {source.window}). The alerts: {rules}.",
        queries=tuple(
            Query(f'{sli_error_record(window(source, w, profile))}{{slo="{slo.name}"}} / {slo.error_budget:g}', w)
            for w in _burn_windows(source)
        ),
        thresholds=((None, "transparent"), *sorted(factors.items())),
        threshold_lines=True,
    )


def _journey_links(journey: Journey, source: SloSource) -> tuple[Link, ...]:
    runbooks = dict.fromkeys(alert.alert for alert in source.burn_alerts)
    return (
        *(Link(f"Runbook: {name}", f"{RUNBOOK_BASE}/{name}.md", new_tab=True) for name in runbooks),
        *(
            Link(
                f"{service} dashboard",
                f"/d/{service_uid(service)}?${{__url_time_range}}&${{namespace:queryparam}}&${{datasource:queryparam}}",
            )
            for service in journey.path
        ),
    )


def slo_overview(source: SloSource, profile: Profile) -> DashboardSpec:
    rows = [
        RowSpec(
            "Every SLO",
            (
                PanelSpec(
                    title="Error budget left, every SLO",
                    kind="stat",
                    unit="percentunit",
                    decimals=1,
                    width=24,
                    height=5,
                    description=f"Share of each SLO's {source.window} error budget not yet spent.",
                    queries=(Query(BUDGET_REMAINING_RECORD, "{{slo}}", instant=True),),
                    thresholds=((None, "red"), (0.0, "orange"), (0.25, "green")),
                ),
            ),
        )
    ]
    for journey in source.journeys:
        journey_slos = [slo for slo in slos(source) if slo.journey is journey]
        links = _journey_links(journey, source)
        rows.append(
            RowSpec(
                f"{journey.name} ({' → '.join(journey.path)})",
                (
                    *(_sli_panel(slo, source, profile, links) for slo in journey_slos),
                    _budget_panel(journey.name, source),
                    *(_burn_panel(slo, source, profile) for slo in journey_slos),
                ),
            )
        )
    return DashboardSpec(
        uid=SLO_OVERVIEW_UID,
        title="Shopfloor / SLO overview",
        description="Every journey of observability/slos.yaml: SLIs against their objectives, error budget left and "
        "burn rates, from the recording rules `shopfloor slo generate` writes. Generated: edit slos.yaml.",
        tags=(TAG, "slo"),
        namespace_query="label_values(http_requests_total, namespace)",
        namespace_description="Passed on to the service dashboards the rows link to. The SLO series come from "
        "recording rules that sum over the shop's namespace, so they carry none.",
        rows=tuple(rows),
        time_from="now-24h",
    )


# --- the service dashboards -------------------------------------------------------------------


@dataclass(frozen=True)
class Selector:
    """Series of one service: `sel("http_requests_total", 'status=~"5.."')`."""

    service: str
    quiet_routes: str  # `a|b|c`: the probe and scrape routes

    def __call__(self, metric: str, *matchers: str) -> str:
        labels = ['namespace="$namespace"', f'job="{self.service}"', *matchers]
        return f"{metric}{{{', '.join(labels)}}}"

    @property
    def served(self) -> str:
        """The matcher that leaves out probes and scrapes: they are not the shop's traffic."""
        return f'route!~"{self.quiet_routes}"'


def _share(bad: str, total: str, by: str) -> str:
    """bad / total per `by`, 0 (not nothing) where the bad series does not exist yet."""
    return (
        f"(sum by ({by}) (rate({bad}[{RATE}])) or sum by ({by}) (rate({total}[{RATE}])) * 0)\n"
        f"/\nsum by ({by}) (rate({total}[{RATE}]))"
    )


def _quantile(q: float, bucket: str, by: str) -> str:
    return f"histogram_quantile({q:g}, sum by (le, {by}) (rate({bucket}[{RATE}])))"


def _red(sel: Selector) -> RowSpec:
    total = sel("http_requests_total", sel.served)
    five = sel("http_requests_total", sel.served, 'status=~"5.."')
    buckets = sel("http_request_duration_seconds_bucket", sel.served)
    return RowSpec(
        "Requests (RED), probes and scrapes left out",
        (
            PanelSpec(
                "Request rate by route",
                (Query(f"sum by (method, route) (rate({total}[{RATE}]))", "{{method}} {{route}}"),),
                unit="reqps",
            ),
            PanelSpec(
                "Responses by status",
                (Query(f"sum by (status) (rate({total}[{RATE}]))", "{{status}}"),),
                unit="reqps",
                stacked=True,
            ),
            PanelSpec(
                "5xx share by route",
                (Query(_share(five, total, "method, route"), "{{method}} {{route}}"),),
                unit="percentunit",
                min=0,
            ),
            PanelSpec(
                "Latency p99 by route",
                (Query(_quantile(0.99, buckets, "method, route"), "{{method}} {{route}}"),),
                unit="s",
                width=12,
            ),
            PanelSpec(
                "Latency p50 / p90 / p99, every route",
                tuple(
                    Query(f"histogram_quantile({q:g}, sum by (le) (rate({buckets}[{RATE}])))", f"p{q * 100:g}")
                    for q in (0.5, 0.9, 0.99)
                ),
                unit="s",
                width=12,
            ),
        ),
    )


def _saturation(sel: Selector) -> RowSpec:
    return RowSpec(
        "Saturation",
        (
            PanelSpec(
                "Requests in flight",
                (Query(f"sum by (instance) ({sel('http_requests_in_flight')})", "{{instance}}"),),
                width=6,
            ),
            PanelSpec(
                "Process CPU (cores)",
                (Query(f"sum by (instance) (rate({sel('process_cpu_seconds_total')}[{RATE}]))", "{{instance}}"),),
                width=6,
            ),
            PanelSpec(
                "Resident memory",
                (Query(f"sum by (instance) ({sel('process_resident_memory_bytes')})", "{{instance}}"),),
                unit="bytes",
                width=6,
            ),
            PanelSpec(
                "Open file descriptors, share of the limit",
                (
                    Query(
                        f"max by (instance) ({sel('process_open_fds')} / {sel('process_max_fds')})",
                        "{{instance}}",
                    ),
                ),
                unit="percentunit",
                min=0,
                width=6,
            ),
        ),
    )


def _dependencies(sel: Selector) -> RowSpec:
    calls = sel("upstream_requests_total")
    failed = sel("upstream_requests_total", 'outcome!="ok"')
    return RowSpec(
        "Dependencies: calls to other services",
        (
            PanelSpec(
                "Upstream calls by outcome",
                (Query(f"sum by (upstream, outcome) (rate({calls}[{RATE}]))", "{{upstream}} {{outcome}}"),),
                unit="reqps",
                width=6,
                description="One per attempt: ok, a 5xx status, timeout, error (connection), circuit_open (refused "
                "without a call).",
            ),
            PanelSpec(
                "Upstream failure share",
                (Query(_share(failed, calls, "upstream"), "{{upstream}}"),),
                unit="percentunit",
                min=0,
                width=6,
            ),
            PanelSpec(
                "Upstream latency p99 (per attempt)",
                (Query(_quantile(0.99, sel("upstream_request_duration_seconds_bucket"), "upstream"), "{{upstream}}"),),
                unit="s",
                width=6,
            ),
            PanelSpec(
                "Circuit breakers",
                (Query(f"max by (upstream) ({sel('circuit_breaker_open')})", "{{upstream}}"),),
                kind="state",
                width=6,
                value_texts=(("0", "closed", "green"), ("1", "open", "red")),
            ),
        ),
    )


def _cache(sel: Selector) -> RowSpec:
    lookups = sel("cache_requests_total")
    return RowSpec(
        "Cache",
        (
            PanelSpec(
                "Cache hit ratio",
                (Query(_share(sel("cache_requests_total", 'result="hit"'), lookups, "backend"), "{{backend}}"),),
                unit="percentunit",
                min=0,
                max=1,
            ),
            PanelSpec(
                "Cache lookups by result",
                (Query(f"sum by (backend, result) (rate({lookups}[{RATE}]))", "{{backend}} {{result}}"),),
                unit="ops",
            ),
            PanelSpec(
                "Cache errors (served as a miss)",
                (
                    Query(
                        f"sum by (backend) (rate({sel('cache_errors_total')}[{RATE}]))\n"
                        f"or sum by (backend) (rate({lookups}[{RATE}])) * 0",
                        "{{backend}}",
                    ),
                ),
                unit="ops",
            ),
        ),
    )


def _product_reads(sel: Selector) -> RowSpec:
    # Catalog's own view of its cache (docs/performance.md): a hit needs no database statement, a
    # stock refresh reads only the stock; the mixed bench's target is >= 90% hits under checkouts.
    reads = sel("catalog_product_reads_total")
    return RowSpec(
        "Product reads",
        (
            PanelSpec(
                "Product reads served with no database statement",
                (Query(_share(sel("catalog_product_reads_total", 'result="hit"'), reads, "kind"), "{{kind}}"),),
                unit="percentunit",
                min=0,
                max=1,
                description="Share of product reads (item, list) answered from the cache with the cached stock; "
                "a sale rewrites one sku's stock and empties nothing else.",
            ),
            PanelSpec(
                "Product reads by result",
                (Query(f"sum by (kind, result) (rate({reads}[{RATE}]))", "{{kind}} {{result}}"),),
                unit="ops",
            ),
        ),
    )


def _rate_limit(sel: Selector) -> RowSpec:
    return RowSpec(
        "Rate limit",
        (
            PanelSpec(
                "Requests refused with 429",
                (Query(f"sum(rate({sel('rate_limited_requests_total')}[{RATE}]))", "refused"),),
                unit="reqps",
                width=12,
            ),
            PanelSpec(
                "Rate-limit checks that failed (request let through)",
                (Query(f"sum(rate({sel('rate_limit_errors_total')}[{RATE}]))", "failed"),),
                unit="reqps",
                width=12,
            ),
        ),
    )


def _orders(sel: Selector) -> RowSpec:
    return RowSpec(
        "Orders and the reconciler",
        (
            PanelSpec(
                "Reconciler lag: oldest PENDING order",
                (Query(f"max({sel('orders_pending_oldest_age_seconds')})", "oldest PENDING"),),
                unit="s",
                description="Age of the oldest order still waiting for catalog's answer (0 when none), as the last "
                "reconciler pass saw it.",
            ),
            PanelSpec(
                "Cancelled orders awaiting stock release",
                (Query(f"max({sel('orders_release_pending')})", "release pending"),),
            ),
            PanelSpec(
                "Checkouts by outcome",
                (Query(f"sum by (outcome) (rate({sel('orders_created_total')}[{RATE}]))", "{{outcome}}"),),
                unit="ops",
                stacked=True,
            ),
            PanelSpec(
                "Reconciler work by outcome",
                (Query(f"sum by (outcome) (rate({sel('orders_reconciled_total')}[{RATE}]))", "{{outcome}}"),),
                unit="ops",
                description="Empty until the reconciler has worked on an order: a PENDING checkout, or a cancel "
                "whose stock release catalog did not confirm.",
                needs="reconciler work: e.g. cancel an order while catalog is stopped, then start catalog again",
            ),
            PanelSpec(
                "Stock reservation at catalog, p99 by outcome",
                (Query(_quantile(0.99, sel("orders_reservation_duration_seconds_bucket"), "outcome"), "{{outcome}}"),),
                unit="s",
            ),
            PanelSpec(
                "Order status changes",
                (Query(f"sum by (from, to) (rate({sel('orders_transitions_total')}[{RATE}]))", "{{from}} → {{to}}"),),
                unit="ops",
            ),
        ),
    )


# Every service gets the rows whose metrics its code exports, in this order.
SERVICE_ROWS: tuple[Callable[[Selector], RowSpec], ...] = (
    _red,
    _saturation,
    _dependencies,
    _cache,
    _product_reads,
    _rate_limit,
    _orders,
)


def _row_metrics(row: RowSpec) -> frozenset[str]:
    return frozenset(name for panel in row.panels for query in panel.queries for name in metric_names(query.expr))


def service_dashboards(metrics: dict[str, ServiceMetrics]) -> list[DashboardSpec]:
    from shopfloor_common.app import QUIET_PATHS

    quiet = "|".join(sorted(QUIET_PATHS))
    exported_anywhere = frozenset(name for m in metrics.values() for name in m.series)
    used: set[str] = set()
    dashboards = []
    for service, exported in sorted(metrics.items()):
        rows = []
        for make_row in SERVICE_ROWS:
            row = make_row(Selector(service, quiet))
            if _row_metrics(row) <= exported.series:
                rows.append(row)
                used.add(make_row.__name__)
        dashboards.append(
            DashboardSpec(
                uid=service_uid(service),
                title=f"Shopfloor / {service}",
                description=f"{service}: requests, saturation and what its code exports (dependencies, cache, rate "
                "limit, orders). Generated by `shopfloor slo generate` from the service's code.",
                tags=(TAG, "service"),
                namespace_query=f'label_values(http_requests_total{{job="{service}"}}, namespace)',
                rows=tuple(rows),
            )
        )
    for make_row in SERVICE_ROWS:
        if make_row.__name__ not in used:
            row = make_row(Selector("any", quiet))
            missing = sorted(_row_metrics(row) - exported_anywhere)
            raise DashboardError(
                f"dashboard row {row.title!r} fits no service: no service under apps/ "
                f"exports {', '.join(missing) or 'all of its metrics together'}"
            )
    return dashboards


# --- the platform dashboard -------------------------------------------------------------------


def platform_dashboard() -> DashboardSpec:
    ns = 'namespace="$namespace"'
    containers = f'{ns}, container!=""'
    hpa = "kube_horizontalpodautoscaler"
    return DashboardSpec(
        uid=PLATFORM_UID,
        title="Shopfloor / platform",
        description="Pods, containers, nodes and autoscaling of the shop's namespace, from kube-state-metrics, "
        "cAdvisor and node_exporter (kube-prometheus-stack). Generated by `shopfloor slo generate`.",
        tags=(TAG, "platform"),
        namespace_query="label_values(kube_pod_info, namespace)",
        rows=(
            RowSpec(
                "Pods",
                (
                    PanelSpec(
                        "Pods by phase",
                        (Query(f"sum by (phase) (kube_pod_status_phase{{{ns}}})", "{{phase}}"),),
                        stacked=True,
                        width=6,
                    ),
                    PanelSpec(
                        "Pods not ready",
                        (Query(f'sum by (pod) (kube_pod_status_ready{{{ns}, condition="false"}})', "{{pod}}"),),
                        width=6,
                    ),
                    PanelSpec(
                        "Container restarts, last hour",
                        (
                            Query(
                                f"sum by (pod) (increase(kube_pod_container_status_restarts_total{{{ns}}}[1h]))",
                                "{{pod}}",
                            ),
                        ),
                        width=6,
                    ),
                    PanelSpec(
                        "Deployments: available vs desired replicas",
                        (
                            Query(f"kube_deployment_status_replicas_available{{{ns}}}", "{{deployment}} available"),
                            Query(f"kube_deployment_spec_replicas{{{ns}}}", "{{deployment}} desired"),
                        ),
                        width=6,
                    ),
                ),
            ),
            RowSpec(
                "Containers",
                (
                    PanelSpec(
                        "CPU by pod (cores) and requests",
                        (
                            Query(
                                f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{containers}}}[{RATE}]))",
                                "{{pod}}",
                            ),
                            Query(
                                f'sum by (pod) (kube_pod_container_resource_requests{{{ns}, resource="cpu"}})',
                                "{{pod}} request",
                            ),
                        ),
                    ),
                    PanelSpec(
                        "Memory working set by pod and limits",
                        (
                            Query(f"sum by (pod) (container_memory_working_set_bytes{{{containers}}})", "{{pod}}"),
                            Query(
                                f'sum by (pod) (kube_pod_container_resource_limits{{{ns}, resource="memory"}})',
                                "{{pod}} limit",
                            ),
                        ),
                        unit="bytes",
                    ),
                    PanelSpec(
                        "CPU throttling: share of periods throttled",
                        (
                            Query(
                                f"sum by (pod) (rate(container_cpu_cfs_throttled_periods_total{{{containers}}}"
                                f"[{RATE}]))\n/\n"
                                f"sum by (pod) (rate(container_cpu_cfs_periods_total{{{containers}}}[{RATE}]))",
                                "{{pod}}",
                            ),
                        ),
                        unit="percentunit",
                        min=0,
                    ),
                ),
            ),
            RowSpec(
                "Nodes",
                (
                    PanelSpec(
                        "Nodes ready",
                        (
                            Query('sum(kube_node_status_condition{condition="Ready", status="true"})', "ready"),
                            Query("count(kube_node_info)", "nodes"),
                        ),
                    ),
                    PanelSpec(
                        "Node CPU busy",
                        (
                            Query(
                                f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle"}}[{RATE}]))',
                                "{{instance}}",
                            ),
                        ),
                        unit="percentunit",
                        min=0,
                        max=1,
                    ),
                    PanelSpec(
                        "Node memory used",
                        (Query("1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes", "{{instance}}"),),
                        unit="percentunit",
                        min=0,
                        max=1,
                    ),
                ),
            ),
            RowSpec(
                "Autoscaling (HPA)",
                (
                    PanelSpec(
                        "HPA replicas: current vs desired, min and max",
                        (
                            Query(f"{hpa}_status_current_replicas{{{ns}}}", "{{horizontalpodautoscaler}} current"),
                            Query(f"{hpa}_status_desired_replicas{{{ns}}}", "{{horizontalpodautoscaler}} desired"),
                            Query(f"{hpa}_spec_max_replicas{{{ns}}}", "{{horizontalpodautoscaler}} max"),
                            Query(f"{hpa}_spec_min_replicas{{{ns}}}", "{{horizontalpodautoscaler}} min"),
                        ),
                        width=16,
                    ),
                    PanelSpec(
                        "HPAs at their maximum",
                        (
                            Query(
                                f"count({hpa}_status_current_replicas{{{ns}}}\n"
                                f">= on (namespace, horizontalpodautoscaler) {hpa}_spec_max_replicas{{{ns}}})\n"
                                "or vector(0)",
                                "at max",
                                instant=True,
                            ),
                        ),
                        kind="stat",
                        width=8,
                        thresholds=((None, "green"), (1.0, "orange")),
                        description="An HPA at its maximum cannot absorb more load: raise maxReplicas or find why "
                        "each pod does less.",
                    ),
                ),
            ),
        ),
    )


# --- rendering with the SDK -------------------------------------------------------------------


def _thresholds(steps: tuple[tuple[float | None, str], ...]) -> gd.ThresholdsConfig:
    return (
        gd.ThresholdsConfig()
        .mode(gm.ThresholdsMode.ABSOLUTE)
        .steps([gm.Threshold(value=value, color=color) for value, color in steps])
    )


def _links(links: tuple[Link, ...]) -> list[gd.DashboardLink]:
    return [
        gd.DashboardLink(link.title).type(gm.DashboardLinkType.LINK).url(link.url).target_blank(link.new_tab)
        for link in links
    ]


def _target(query: Query, ref_id: str) -> prometheus.Dataquery:
    target = prometheus.Dataquery().ref_id(ref_id).expr(query.expr).datasource(DATASOURCE)
    if query.legend:
        target = target.legend_format(query.legend)
    return target.instant() if query.instant else target.range()


def _panel(spec: PanelSpec, panel_id: int) -> Any:
    builder: Any
    if spec.kind == "stat":
        builder = stat.Panel()
    elif spec.kind == "state":
        builder = statetimeline.Panel().mappings(
            [
                gm.ValueMap(
                    options={
                        value: gm.ValueMappingResult(text=text, color=color, index=index)
                        for index, (value, text, color) in enumerate(spec.value_texts)
                    }
                )
            ]
        )
    else:
        builder = timeseries.Panel().fill_opacity(10)
        if spec.stacked:
            builder = builder.stacking(StackingConfig().mode(StackingMode.NORMAL))
        if spec.threshold_lines:
            builder = builder.thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))
    builder = (
        builder.id(panel_id)
        .title(spec.title)
        .datasource(DATASOURCE)
        .unit(spec.unit)
        .span(spec.width)
        .height(spec.height)
        .targets([_target(q, chr(ord("A") + i)) for i, q in enumerate(spec.queries)])
    )
    if spec.description:
        builder = builder.description(spec.description)
    if spec.min is not None:
        builder = builder.min(spec.min)
    if spec.max is not None:
        builder = builder.max(spec.max)
    if spec.decimals is not None:
        builder = builder.decimals(spec.decimals)
    if spec.thresholds:
        builder = builder.thresholds(_thresholds(spec.thresholds))
    if spec.links:
        builder = builder.links(_links(spec.links))
    return builder


def _variables(spec: DashboardSpec) -> list[Any]:
    current = gm.VariableOption(selected=True, text=DEFAULT_NAMESPACE, value=DEFAULT_NAMESPACE)
    return [
        gd.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        gd.QueryVariable("namespace")
        .label("Namespace")
        .description(spec.namespace_description)
        .datasource(DATASOURCE)
        .query(spec.namespace_query)
        .refresh(gm.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(gm.VariableSort.ALPHABETICAL_ASC)
        .current(current),
    ]


# The SDK writes every unset optional field as null, which the schema refuses, and gives every
# variable the interval variable's `auto*` fields; a threshold's base step is the one null the
# schema wants (it stands for -Infinity).
_INTERVAL_ONLY = ("auto", "auto_min", "auto_count")


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        is_step = "color" in value and "value" in value
        return {k: _clean(v) for k, v in value.items() if v is not None or (is_step and k == "value")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def render(spec: DashboardSpec) -> dict[str, Any]:
    """The dashboard JSON Grafana loads."""
    builder = (
        gd.Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(list(spec.tags))
        .readonly()
        .tooltip(gm.DashboardCursorSync.CROSSHAIR)
        .time(spec.time_from, "now")
        .refresh("1m")
        .variables(_variables(spec))
        .link(
            gd.DashboardLink("Shopfloor dashboards")
            .type(gm.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    panel_id = 0
    for row in spec.rows:
        panel_id += 1
        builder = builder.with_row(gd.Row(row.title).id(panel_id))
        for panel in row.panels:
            panel_id += 1
            builder = builder.with_panel(_panel(panel, panel_id))
    document: dict[str, Any] = _clean(json.loads(json.dumps(builder.build(), cls=JSONEncoder)))
    for variable in document.get("templating", {}).get("list", []):
        if variable.get("type") != "interval":
            for key in _INTERVAL_ONLY:
                variable.pop(key, None)
    return document


# --- all dashboards, checked ------------------------------------------------------------------


def dashboard_specs(repo: Path, source: SloSource, profile: Profile) -> list[DashboardSpec]:
    """Every dashboard, with the SLO overview reading `profile`'s recording rules; refuses a
    dashboard that names a series nothing exports."""
    specs = [slo_overview(source, profile), *service_dashboards(exported_metrics(repo)), platform_dashboard()]
    records = {r["record"] for group in rule_groups(source, profile)["groups"] for r in group["rules"] if "record" in r}
    allowed = {SLO_OVERVIEW_UID: records, PLATFORM_UID: set(PLATFORM_METRICS)}
    for spec in specs:
        if spec.uid not in allowed:
            continue  # the service dashboards keep only rows of exported metrics
        unknown = sorted({n for q in spec.queries() for n in metric_names(q.expr)} - allowed[spec.uid])
        if unknown:
            raise DashboardError(f"dashboard {spec.uid} queries series nothing here records: {', '.join(unknown)}")
    return specs


def dashboard_files(repo: Path, source: SloSource) -> dict[Path, str]:
    """observability/generated/dashboards/<uid>.json for every dashboard (production rules),
    each validated against Grafana's dashboard schema."""
    schema = load_schema(repo)
    files = {}
    for spec in dashboard_specs(repo, source, "production"):
        document = render(spec)
        errors = dashboard_errors(document, schema)
        if errors:
            raise DashboardError(f"dashboard {spec.uid} breaks Grafana's dashboard schema:\n  " + "\n  ".join(errors))
        files[DASHBOARDS / f"{spec.uid}.json"] = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return files


# --- the queries, for the end-to-end test -----------------------------------------------------


@dataclass(frozen=True)
class DashboardQuery:
    """One query of one panel, ready to send to a Prometheus."""

    dashboard: str  # the dashboard's uid
    panel: str  # the panel's title (unique within a dashboard)
    ref_id: str  # A, B, ... within the panel
    expr: str  # PromQL with the dashboard's variables filled in
    instant: bool  # an instant query (stat panels) rather than a range
    platform_only: str | None  # why the local stack has none of its series (None: it must return data)
    needs: str | None  # what traffic must have happened for it to return data, beyond the journeys


_VARIABLE = re.compile(r"\$(?:\{[^}]*\}|\w+)")


def platform_reason(expr: str) -> str | None:
    """Why a query reads series the local stack cannot have, or None."""
    sources = sorted({PLATFORM_METRICS[n] for n in metric_names(expr) if n in PLATFORM_METRICS})
    return "; ".join(f"{s}: {PLATFORM_SOURCES[s]}" for s in sources) or None


def dashboard_queries(
    repo: Path, profile: Profile, *, namespace: str = DEFAULT_NAMESPACE, rate_interval: str = "1m"
) -> list[DashboardQuery]:
    """Every query of every dashboard as Grafana would send it to the datasource, with
    `$namespace` and `$__rate_interval` filled in, and the SLO overview reading `profile`'s
    recording rules (the local Prometheus loads the lab profile, whose windows are compressed).
    Queries on platform-only series say why in `platform_only`."""
    values = {"namespace": namespace, "__rate_interval": rate_interval}

    def fill(expr: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(0).strip("${}").partition(":")[0]
            if name not in values:
                raise DashboardError(f"no local value for the variable {match.group(0)} in {expr!r}")
            return values[name]

        return _VARIABLE.sub(one, expr)

    queries = []
    for spec in dashboard_specs(repo, load_slos(repo), profile):
        needs = {panel.title: panel.needs for row in spec.rows for panel in row.panels}
        for panel in render(spec)["panels"]:
            for target in panel.get("targets", []):
                queries.append(
                    DashboardQuery(
                        dashboard=spec.uid,
                        panel=panel["title"],
                        ref_id=target["refId"],
                        expr=fill(target["expr"]),
                        instant=bool(target.get("instant")),
                        platform_only=platform_reason(target["expr"]),
                        needs=needs[panel["title"]] or None,
                    )
                )
    return queries
