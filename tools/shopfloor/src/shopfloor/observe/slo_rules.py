"""Prometheus rules generated from the SLO source: recording rules for every SLI over every window
an alert or the error budget needs, and the multi-window multi-burn-rate alerts.

Two profiles share one structure: `production` (the windows of slos.yaml) and `lab` (every window
divided by `lab.compress`, evaluated every `lab.scrape_interval`), so what fires on the local stack
is the same rule as in a cluster, only faster.

Names (the Prometheus convention level:metric:operations):
  slo:sli_error:ratio_rate<window>     share of bad requests over the window, per SLO
  slo:objective:ratio                  the objective (0.999)
  slo:error_budget_remaining:ratio     1 - (bad share over the SLO window) / (1 - objective)
Every series carries slo (checkout-availability), journey, sli and job (the answering service).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from prometheus_client.utils import floatToGoString

from shopfloor.observe.slos import Slo, SloSource, duration_seconds, format_duration, slos

Profile = Literal["production", "lab"]
RUNBOOK_BASE = "https://github.com/shopfloor/shopfloor/blob/main/runbooks"
PRODUCTION_INTERVAL = "30s"
OBJECTIVE_RECORD = "slo:objective:ratio"
BUDGET_REMAINING_RECORD = "slo:error_budget_remaining:ratio"


def sli_error_record(range_: str) -> str:
    """The recording rule holding an SLO's share of bad requests over `range_` (as the profile names it)."""
    return f"slo:sli_error:ratio_rate{range_}"


def window(source: SloSource, text: str, profile: Profile) -> str:
    if profile == "production":
        return text
    return format_duration(duration_seconds(text) // source.lab.compress)


def _selector(slo: Slo, extra: Iterable[str] = ()) -> list[str]:
    """One label selector per (method, route) of the journey, with the `extra` matchers."""
    selectors = []
    for request in slo.journey.requests:
        labels = [f'job="{slo.journey.service}"', f'method="{request.method}"', f'route="{request.route}"', *extra]
        selectors.append("{" + ",".join(labels) + "}")
    return selectors


def le_matcher(bound: float) -> str:
    """The matcher for one bucket bound of a histogram prometheus_client exposes. Its text format
    writes whole bounds with a decimal point (le="1.0"); Prometheus 3 rewrites them to the shortest
    form (le="1") as it ingests them, Prometheus 2 (the local stack's) keeps them as written: the
    matcher accepts both."""

    forms = dict.fromkeys([f"{bound:g}", floatToGoString(bound)])  # type: ignore[no-untyped-call]
    if len(forms) == 1:
        return f'le="{bound:g}"'
    return 'le=~"' + "|".join(form.replace(".", "\\\\.") for form in forms) + '"'


def _sum_rate(metric: str, selectors: list[str], range_: str) -> str:
    """sum of the rates of every selector: `or` keeps each (their route or method differ)."""
    return "sum(" + " or ".join(f"rate({metric}{selector}[{range_}])" for selector in selectors) + ")"


def error_ratio_expr(slo: Slo, range_: str) -> str:
    if slo.sli == "availability":
        bad = _sum_rate("http_requests_total", _selector(slo, ['status=~"5.."']), range_)
        total = _sum_rate("http_requests_total", _selector(slo), range_)
        # No 5xx series yet means none happened: 0, not an empty result that hides the SLI.
        return f"({bad} or vector(0))\n/\n{total}"
    assert slo.latency_threshold is not None
    good = _sum_rate(
        "http_request_duration_seconds_bucket", _selector(slo, [le_matcher(slo.latency_threshold)]), range_
    )
    total = _sum_rate("http_request_duration_seconds_count", _selector(slo), range_)
    return f"1 - (\n{good}\n/\n{total}\n)"


def _labels(slo: Slo) -> dict[str, str]:
    return {"slo": slo.name, "journey": slo.journey.name, "sli": slo.sli, "job": slo.journey.service}


def _match(slo: Slo) -> str:
    return f'{{slo="{slo.name}"}}'


def windows_needed(source: SloSource) -> list[str]:
    """Every window a rule reads, shortest first (production profile's names)."""
    found = {source.window}
    for alert in source.burn_alerts:
        found |= {alert.long, alert.short}
    return sorted(found, key=duration_seconds)


def rule_groups(source: SloSource, profile: Profile) -> dict[str, Any]:
    """The rule file (as a document) for one profile."""
    interval = PRODUCTION_INTERVAL if profile == "production" else source.lab.scrape_interval
    groups = []
    for slo in slos(source):
        labels = _labels(slo)
        rules: list[dict[str, Any]] = []
        for name in windows_needed(source):
            range_ = window(source, name, profile)
            rules.append({"record": sli_error_record(range_), "expr": error_ratio_expr(slo, range_), "labels": labels})
        rules.append({"record": OBJECTIVE_RECORD, "expr": f"vector({slo.objective:g})", "labels": labels})
        slo_window = window(source, source.window, profile)
        rules.append(
            {
                "record": BUDGET_REMAINING_RECORD,
                "expr": f"1 - {sli_error_record(slo_window)}{_match(slo)} / {slo.error_budget:g}",
                "labels": labels,
            }
        )
        for alert in source.burn_alerts:
            long_, short = window(source, alert.long, profile), window(source, alert.short, profile)
            budget = f"{slo.error_budget:g}"
            expr = (
                f"{sli_error_record(long_)}{_match(slo)} / {budget} > {alert.factor:g}\n"
                f"and\n"
                f"{sli_error_record(short)}{_match(slo)} / {budget} > {alert.factor:g}"
            )
            what = "answered with a 5xx" if slo.sli == "availability" else f"slower than {slo.latency_threshold:g}s"
            rules.append(
                {
                    "alert": alert.alert,
                    "expr": expr,
                    "labels": {
                        **labels,
                        "severity": alert.severity,
                        "layer": "app",
                        "long_window": long_,
                        "short_window": short,
                        "profile": profile,
                    },
                    "annotations": {
                        "summary": f"{slo.journey.name} {slo.sli}: error budget burning "
                        f'{{{{ $value | printf "%.1f" }}}}x too fast ({long_} and {short} windows)',
                        "description": f"{slo.journey.description} Over the last {long_} (and {short}), "
                        f'requests {what} spent the error budget {{{{ $value | printf "%.1f" }}}} times as fast '
                        f"as the {slo.objective * 100:g}% objective allows (at 1x the {slo_window} budget lasts "
                        f"exactly {slo_window}). Services on its path: {', '.join(slo.journey.path)}.",
                        "runbook_url": f"{RUNBOOK_BASE}/{alert.alert}.md",
                    },
                }
            )
        groups.append({"name": f"slo-{slo.name}", "interval": interval, "rules": rules})
    return {"groups": groups}
