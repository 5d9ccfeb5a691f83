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


def window(source: SloSource, text: str, profile: Profile) -> str:
    if profile == "production":
        return text
    return format_duration(duration_seconds(text) // source.lab.compress)


def _selector(slo: Slo, extra: Iterable[tuple[str, str]] = ()) -> list[str]:
    """One label selector per (method, route) of the journey."""
    selectors = []
    for request in slo.journey.requests:
        labels = [("job", slo.journey.service), ("method", request.method), ("route", request.route), *extra]
        selectors.append("{" + ",".join(f'{name}="{value}"' for name, value in labels) + "}")
    return selectors


def _sum_rate(metric: str, selectors: list[str], range_: str) -> str:
    """sum of the rates of every selector: `or` keeps each (their route or method differ)."""
    return "sum(" + " or ".join(f"rate({metric}{selector}[{range_}])" for selector in selectors) + ")"


def error_ratio_expr(slo: Slo, range_: str) -> str:
    if slo.sli == "availability":
        bad = _sum_rate("http_requests_total", _selector(slo, [("status", "5..")]), range_)
        bad = bad.replace('status="5.."', 'status=~"5.."')
        total = _sum_rate("http_requests_total", _selector(slo), range_)
        # No 5xx series yet means none happened: 0, not an empty result that hides the SLI.
        return f"({bad} or vector(0))\n/\n{total}"
    assert slo.latency_threshold is not None
    # The bound as prometheus_client writes it into `le` (1.0 -> "1.0", never "1"): a selector
    # spelled otherwise matches no series and the SLI is silently empty.
    threshold: str = floatToGoString(slo.latency_threshold)  # type: ignore[no-untyped-call]  # untyped upstream
    good = _sum_rate("http_request_duration_seconds_bucket", _selector(slo, [("le", threshold)]), range_)
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
            rules.append(
                {"record": f"slo:sli_error:ratio_rate{range_}", "expr": error_ratio_expr(slo, range_), "labels": labels}
            )
        rules.append({"record": "slo:objective:ratio", "expr": f"vector({slo.objective:g})", "labels": labels})
        slo_window = window(source, source.window, profile)
        rules.append(
            {
                "record": "slo:error_budget_remaining:ratio",
                "expr": f"1 - slo:sli_error:ratio_rate{slo_window}{_match(slo)} / {slo.error_budget:g}",
                "labels": labels,
            }
        )
        for alert in source.burn_alerts:
            long_, short = window(source, alert.long, profile), window(source, alert.short, profile)
            budget = f"{slo.error_budget:g}"
            expr = (
                f"slo:sli_error:ratio_rate{long_}{_match(slo)} / {budget} > {alert.factor:g}\n"
                f"and\n"
                f"slo:sli_error:ratio_rate{short}{_match(slo)} / {budget} > {alert.factor:g}"
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
