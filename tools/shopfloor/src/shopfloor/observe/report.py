"""`shopfloor slo report`: where every SLO stands, from a Prometheus that runs the SLO rules (the
local one of `make observe`, or any URL: a cluster's runs the production profile).

The terminal gets a table: per SLO the objective, the SLI and the error budget left over the SLO
window, the burn rate over each burn alert's long window, and the alerts firing. The output folder
gets one PNG per journey: its two SLOs (availability, latency) side by side, over the report's
window, as the SLI (with the objective), the burn rate of the fastest alert's windows (with the
alerts' thresholds) and the budget left.

Which profile Prometheus runs is read from the recording rules it has (slo:sli_error:ratio_rate5s
is the lab's, ...5m production's); the windows and factors come from observability/slos.yaml, the
source of both.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from shopfloor.observe.prometheus import PrometheusClient, PrometheusError
from shopfloor.observe.slo_rules import Profile, window, windows_needed
from shopfloor.observe.slos import SloSource, duration_seconds

RATIO = "slo:sli_error:ratio_rate"
BUDGET = "slo:error_budget_remaining:ratio"
OBJECTIVE = "slo:objective:ratio"
NO_DATA_HINT = "start `make observe` and send some traffic (or pass --prometheus URL)"
POINTS = 360  # samples per line over the report's window


class ReportError(Exception):
    """No report can be made; the message says why and what to do."""


@dataclass(frozen=True)
class Windows:
    """The recording-rule windows of one profile, as Prometheus names them (1m, 12h, ...)."""

    profile: Profile
    slo: str  # the SLO window: the budget's
    burn_long: list[str]  # each burn alert's long window, fastest first
    fast_long: str  # the fastest alert's two windows (the plots' burn rate)
    fast_short: str
    thresholds: list[tuple[float, str]]  # (factor, label) of each distinct burn alert


def profile_windows(source: SloSource, profile: Profile) -> Windows:
    alerts = sorted(source.burn_alerts, key=lambda a: duration_seconds(a.long))
    fastest = alerts[0]
    longs: list[str] = []
    for alert in alerts:
        name = window(source, alert.long, profile)
        if name not in longs:
            longs.append(name)
    return Windows(
        profile=profile,
        slo=window(source, source.window, profile),
        burn_long=longs,
        fast_long=window(source, fastest.long, profile),
        fast_short=window(source, fastest.short, profile),
        thresholds=[
            (a.factor, f"{a.alert} {window(source, a.long, profile)}/{window(source, a.short, profile)}: {a.factor:g}x")
            for a in alerts
        ],
    )


def detect_profile(source: SloSource, recorded: set[str]) -> Windows:
    """The profile whose every window Prometheus records (the lab's when both are there)."""
    profiles: tuple[Profile, ...] = ("lab", "production")
    for profile in profiles:
        wanted = {window(source, name, profile) for name in windows_needed(source)}
        if wanted <= recorded:
            return profile_windows(source, profile)
    raise ReportError(
        f"Prometheus records {RATIO}<window> for {', '.join(sorted(recorded))}, which is neither the lab nor the "
        "production profile of observability/slos.yaml: are its rules generated from another slos.yaml?"
    )


@dataclass
class SloStatus:
    slo: str
    journey: str
    sli: str
    job: str
    objective: float
    sli_value: float = math.nan  # over the SLO window
    budget_left: float = math.nan
    burn: dict[str, float] = field(default_factory=dict)  # long window -> burn rate
    firing: list[str] = field(default_factory=list)

    @property
    def error_budget(self) -> float:
        return 1 - self.objective


@dataclass
class Report:
    prometheus: str
    windows: Windows
    statuses: list[SloStatus]
    figures: list[Path] = field(default_factory=list)


def _value(sample: dict[str, Any]) -> float:
    return float(sample["value"][1])


def _by_slo(result: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {sample["metric"].get("slo", ""): sample for sample in result}


async def collect(client: PrometheusClient, source: SloSource) -> tuple[Windows, list[SloStatus]]:
    """The status of every SLO Prometheus records, now."""
    names = await client.query(f'count by (__name__) ({{__name__=~"{RATIO}.+"}})')
    recorded = {sample["metric"]["__name__"].removeprefix(RATIO) for sample in names}
    if not recorded:
        raise ReportError(f"Prometheus at {client.url} has no SLO series yet ({RATIO}*): {NO_DATA_HINT}")
    windows = detect_profile(source, recorded)
    statuses = []
    for sample in await client.query(OBJECTIVE):
        labels = sample["metric"]
        statuses.append(
            SloStatus(
                slo=labels.get("slo", ""),
                journey=labels.get("journey", ""),
                sli=labels.get("sli", ""),
                job=labels.get("job", ""),
                objective=_value(sample),
            )
        )
    if not statuses:
        raise ReportError(f"Prometheus at {client.url} records no {OBJECTIVE}: {NO_DATA_HINT}")
    statuses.sort(key=lambda s: (s.journey, s.sli))
    slo_ratio = _by_slo(await client.query(f"{RATIO}{windows.slo}"))
    budget = _by_slo(await client.query(BUDGET))
    burns = {name: _by_slo(await client.query(f"{RATIO}{name}")) for name in windows.burn_long}
    firing: dict[str, list[str]] = defaultdict(list)
    for sample in await client.query('ALERTS{alertstate="firing", slo!=""}'):
        labels = sample["metric"]
        firing[labels["slo"]].append(f"{labels.get('alertname')} {labels.get('long_window', '')}".strip())
    for status in statuses:
        if status.slo in slo_ratio:
            status.sli_value = 1 - _value(slo_ratio[status.slo])
        if status.slo in budget:
            status.budget_left = _value(budget[status.slo])
        for name, samples in burns.items():
            ratio = _value(samples[status.slo]) if status.slo in samples else math.nan
            status.burn[name] = ratio / status.error_budget
        status.firing = sorted(firing.get(status.slo, []))
    return windows, statuses


def _percent(value: float, digits: int) -> str:
    return "—" if math.isnan(value) else f"{value * 100:.{digits}f}%"


def _burn(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1f}x"


def render_table(report: Report) -> str:
    from shopfloor.observe.alerts import table

    windows = report.windows
    header = [
        "SLO",
        "objective",
        f"SLI ({windows.slo})",
        "budget left",
        *(f"burn {name}" for name in windows.burn_long),
        "firing",
    ]
    rows = [
        [
            s.slo,
            _percent(s.objective, 1),
            _percent(s.sli_value, 3),
            _percent(s.budget_left, 1),
            *(_burn(s.burn.get(name, math.nan)) for name in windows.burn_long),
            ", ".join(s.firing) or "-",
        ]
        for s in report.statuses
    ]
    title = (
        f"SLOs at {report.prometheus} ({windows.profile} profile: budget over {windows.slo}; "
        f"burn = error rate / error budget, 1x spends it exactly over {windows.slo}; — = no traffic)"
    )
    return title + "\n" + table(header, rows, width=10_000)  # never cut: every column matters


# --- plots ---------------------------------------------------------------------------------------

Series = dict[str, tuple[list[float], list[float]]]  # slo -> (minutes before the report's end, values)


async def _range(client: PrometheusClient, expr: str, start: float, end: float, step: float) -> Series:
    series: Series = {}
    for result in await client.query_range(expr, start=start, end=end, step=step):
        times = [(float(t) - end) / 60 for t, _ in result["values"]]
        values = [float(v) for _, v in result["values"]]
        series[result["metric"].get("slo", "")] = (times, values)
    return series


@dataclass(frozen=True)
class History:
    """The series the plots draw, by SLO, from `start` to `end` (Unix times)."""

    start: float
    end: float
    fast: Series  # error ratio over the fastest alert's long window
    short: Series  # ... and its short window
    whole: Series  # ... over the SLO window
    budget: Series


async def fetch_history(client: PrometheusClient, windows: Windows, *, since_seconds: int) -> History:
    end = time.time()
    start = end - since_seconds
    step = max(1.0, since_seconds / POINTS)
    return History(
        start=start,
        end=end,
        fast=await _range(client, f"{RATIO}{windows.fast_long}", start, end, step),
        short=await _range(client, f"{RATIO}{windows.fast_short}", start, end, step),
        whole=await _range(client, f"{RATIO}{windows.slo}", start, end, step),
        budget=await _range(client, BUDGET, start, end, step),
    )


def _draw(axis: Axes, lines: list[tuple[Series, str, Callable[[float], float]]], slo: str) -> int:
    """Draw each (series, label, transform) that has data for `slo`; how many were drawn."""
    drawn = 0
    for series, label, transform in lines:
        if slo in series:
            times, values = series[slo]
            axis.plot(times, [transform(v) for v in values], label=label)
            drawn += 1
    return drawn


LegendPlace = Literal["lower left", "upper right"]


def _finish(axis: Axes, drawn: int, ylabel: str, legend: LegendPlace) -> None:
    axis.set_ylabel(ylabel)
    if drawn:
        axis.legend(loc=legend, fontsize="small")
    else:
        axis.text(0.5, 0.5, "no traffic in this window", transform=axis.transAxes, ha="center", color="gray")


def plot(report: Report, history: History, *, out: Path, since_text: str) -> list[Path]:
    """One PNG per journey under `out`: a column per SLO (availability, latency), rows SLI (with
    the objective), burn rate (with the burn alerts' thresholds) and error budget left."""
    windows = report.windows
    out.mkdir(parents=True, exist_ok=True)
    journeys: dict[str, list[SloStatus]] = defaultdict(list)
    for status in report.statuses:
        journeys[status.journey].append(status)
    written = []
    for journey, statuses in sorted(journeys.items()):
        figure = Figure(figsize=(6.5 * len(statuses), 9), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(3, len(statuses), sharex=True, squeeze=False)
        for column, status in enumerate(statuses):
            sli_axis, burn_axis, budget_axis = (axes[row][column] for row in range(3))
            budget_share = status.error_budget

            def good(ratio: float) -> float:
                return 100 * (1 - ratio)

            def burn(ratio: float, share: float = budget_share) -> float:
                return ratio / share

            sli_axis.set_title(f"{status.slo}\n(objective {status.objective * 100:g}%, answered by {status.job})")
            drawn = _draw(
                sli_axis,
                [
                    (history.fast, f"SLI over {windows.fast_long}", good),
                    (history.whole, f"SLI over {windows.slo}", good),
                ],
                status.slo,
            )
            sli_axis.axhline(status.objective * 100, color="tab:red", linestyle="--", label="objective")
            _finish(sli_axis, drawn, "good requests (%)", "lower left")

            drawn = _draw(
                burn_axis,
                [
                    (history.fast, f"burn rate over {windows.fast_long}", burn),
                    (history.short, f"burn rate over {windows.fast_short}", burn),
                ],
                status.slo,
            )
            for factor, label in windows.thresholds:
                burn_axis.axhline(factor, color="tab:red", linestyle=":", linewidth=1)
                burn_axis.annotate(label, (0.01, factor), xycoords=("axes fraction", "data"), fontsize="x-small")
            burn_axis.set_yscale("symlog", linthresh=1)
            burn_axis.set_ylim(bottom=0)
            _finish(burn_axis, drawn, "burn rate (x budget)", "upper right")

            drawn = _draw(
                budget_axis, [(history.budget, f"left of the {windows.slo} budget", lambda v: 100 * v)], status.slo
            )
            budget_axis.axhline(0, color="tab:red", linestyle="--", linewidth=1)
            _finish(budget_axis, drawn, "error budget left (%)", "lower left")
            budget_axis.set_xlim((history.start - history.end) / 60, 0)
            budget_axis.set_xlabel(f"minutes before {datetime.fromtimestamp(history.end):%H:%M:%S} (local time)")
        figure.suptitle(f"{journey}: the last {since_text} ({windows.profile} profile, {report.prometheus})")
        path = out / f"slo-{journey}.png"
        figure.savefig(path, dpi=100)
        written.append(path)
    return written


async def make_report(
    prometheus: str, source: SloSource, *, since_seconds: int, since_text: str, out: Path | None
) -> Report:
    try:
        async with PrometheusClient(prometheus) as client:
            windows, statuses = await collect(client, source)
            report = Report(prometheus, windows, statuses)
            history = await fetch_history(client, windows, since_seconds=since_seconds) if out else None
    except PrometheusError as exc:
        raise ReportError(f"{exc}: {NO_DATA_HINT}") from None
    if out is not None and history is not None:
        report.figures = plot(report, history, out=out, since_text=since_text)
    return report


def run_report(prometheus: str, source: SloSource, *, since_seconds: int, since_text: str, out: Path | None) -> Report:
    return asyncio.run(make_report(prometheus, source, since_seconds=since_seconds, since_text=since_text, out=out))
