"""The resilience record of one chaos run (var/chaos/<UTC timestamp>-<fault>/), and its judgement.

Pure functions over what a run observed, so the rules are testable without a shop:

- `blast_radius`: per journey and per endpoint of the load, the requests, errors and latency before
  the fault (baseline), while it was held (fault) and until the SLIs were back (recovery); a journey
  is *degraded* when, while the fault was held, its error share or its share of slow requests
  (slower than the journey's latency threshold) left the objective and was worse than before;
- `error_budget`: what the run spent of each SLO's budget, as a share of the 30-day budget (the
  production window) and of the lab window, assuming the load's rate is the shop's;
- `judge`: the verdict against the catalogue's expectations (each check pass, fail, not judged or
  information; the verdict is pass when no required check failed):
    alerts       every expected alert fired (delivered by Alertmanager) within the hold; an alert
                 whose rule waits longer (`for:`) than the hold is not judged, and says so
    recovery     the SLIs were back within objective within the recovery bound after the removal
    consistency  `shopfloor check-consistency` found the stock and orders consistent
    rollback     the experiment's rollback ran and succeeded
    tolerance    a fault the shop must tolerate (`degraded: []`) degraded no journey
    blast radius (information) the journeys degraded against the ones the catalogue expects
- `history`: the runs of one fault, oldest first, with TTD/TTR compared to the run before.

`write_markdown`, `draw_timeline` and `postmortem_draft` turn a record into record.md, the PNG
timeline and a postmortem draft in the project's template (shopfloor.incidents.postmortem).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from shopfloor.observe.slos import SloSource, duration_seconds, slos

RECORD_FILE = "record.json"
RECORDS_DIR = Path("var") / "chaos"
ERROR_STATUS = 500  # a 5xx, or 0 for no answer at all (refused, reset, timed out)
PASS, FAIL, NOT_JUDGED, INFO = "pass", "fail", "not judged", "info"


@dataclass(frozen=True)
class Sample:
    """One request of the load: when it started (epoch seconds), its journey and endpoint, the
    status (0: no answer) and how long it took."""

    at: float
    journey: str
    endpoint: str
    status: int
    seconds: float

    @property
    def failed(self) -> bool:
        return self.status == 0 or self.status >= ERROR_STATUS


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def epoch(text: str | None) -> float | None:
    return None if not text else datetime.fromisoformat(text).timestamp()


def _percentile(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def window_stats(samples: Sequence[Sample], threshold_seconds: float) -> dict[str, Any]:
    latencies = [s.seconds for s in samples]
    errors = sum(s.failed for s in samples)
    slow = sum(s.seconds > threshold_seconds for s in samples)
    p50, p95 = _percentile(latencies, 0.5), _percentile(latencies, 0.95)
    return {
        "requests": len(samples),
        "errors": errors,
        "error_ratio": round(errors / len(samples), 4) if samples else None,
        "slow": slow,
        "slow_ratio": round(slow / len(samples), 4) if samples else None,
        "p50_ms": None if p50 is None else round(p50 * 1000, 1),
        "p95_ms": None if p95 is None else round(p95 * 1000, 1),
    }


def _worse(fault: float | None, baseline: float | None, budget: float) -> bool:
    """Out of objective while the fault was held, and worse than before it (a machine that was
    already slow is not the fault's doing)."""
    if fault is None or fault <= budget:
        return False
    return baseline is None or fault > max(baseline * 2, baseline + budget)


def blast_radius(
    samples: Sequence[Sample],
    source: SloSource,
    *,
    started: float,
    injected: float,
    removed: float,
    recovered: float | None,
    finished: float,
) -> dict[str, Any]:
    """Per journey and endpoint: baseline, fault and recovery windows, and what degraded."""
    journeys = {journey.name: journey for journey in source.journeys}
    windows = {
        "baseline": (started, injected),
        "fault": (injected, removed),
        "recovery": (removed, recovered if recovered is not None else finished),
    }

    def in_window(group: Iterable[Sample], name: str) -> list[Sample]:
        low, high = windows[name]
        return [s for s in group if low <= s.at < high]

    by_journey: dict[str, list[Sample]] = defaultdict(list)
    by_endpoint: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_journey[sample.journey].append(sample)
        by_endpoint[sample.endpoint].append(sample)

    def describe(group: list[Sample], journey_name: str) -> dict[str, Any]:
        journey = journeys[journey_name]
        threshold = journey.latency.threshold_seconds
        stats = {name: window_stats(in_window(group, name), threshold) for name in windows}
        availability_budget = 1 - journey.availability.objective / 100
        latency_budget = 1 - journey.latency.objective / 100
        degraded = []
        if _worse(stats["fault"]["error_ratio"], stats["baseline"]["error_ratio"], availability_budget):
            degraded.append("availability")
        if _worse(stats["fault"]["slow_ratio"], stats["baseline"]["slow_ratio"], latency_budget):
            degraded.append("latency")
        return {"journey": journey_name, **stats, "degraded": degraded}

    result_journeys = {name: describe(group, name) for name, group in sorted(by_journey.items())}
    result_endpoints = {endpoint: describe(group, group[0].journey) for endpoint, group in sorted(by_endpoint.items())}
    return {
        "windows": {name: [iso(low), iso(high)] for name, (low, high) in windows.items()},
        "journeys": result_journeys,
        "endpoints": result_endpoints,
        "degraded": sorted(name for name, entry in result_journeys.items() if entry["degraded"]),
    }


def error_budget(samples: Sequence[Sample], source: SloSource, *, seconds: float) -> list[dict[str, Any]]:
    """What the run spent of each SLO's error budget (module docstring)."""
    window = duration_seconds(source.window)
    lab_window = window / source.lab.compress
    spent = []
    for slo in slos(source):
        group = [s for s in samples if s.journey == slo.journey.name]
        if not group or seconds <= 0:
            continue
        threshold = slo.latency_threshold
        bad = (
            sum(s.failed for s in group)
            if slo.sli == "availability"
            else sum(s.seconds > (threshold or 0) for s in group)
        )
        ratio = bad / len(group)
        spent.append(
            {
                "slo": slo.name,
                "objective": slo.objective,
                "requests": len(group),
                "bad": bad,
                "spent_percent": round(100 * ratio * seconds / (window * slo.error_budget), 4),
                "spent_lab_percent": round(100 * ratio * seconds / (lab_window * slo.error_budget), 2),
            }
        )
    return spent


def per_second(samples: Sequence[Sample], started: float, finished: float) -> list[dict[str, Any]]:
    """The load second by second (for the picture): requests, errors, p95 latency."""
    buckets: dict[int, list[Sample]] = defaultdict(list)
    for sample in samples:
        buckets[int(sample.at - started)].append(sample)
    series = []
    for second in range(int(finished - started) + 1):
        group = buckets.get(second, [])
        p95 = _percentile([s.seconds for s in group], 0.95)
        series.append(
            {
                "t": second,
                "requests": len(group),
                "errors": sum(s.failed for s in group),
                "p95_ms": None if p95 is None else round(p95 * 1000, 1),
            }
        )
    return series


# --- the verdict -------------------------------------------------------------------------------------


def _check(name: str, result: str, detail: str, *, required: bool = True) -> dict[str, Any]:
    return {"name": name, "result": result, "detail": detail, "required": required}


def judge(record: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict of a record (module docstring): {"result": pass|fail, "checks": [...]}."""
    checks = []
    hold = float(record["hold_seconds"])
    for expected in record["alerts"]["expected"]:
        matcher = ", ".join(f"{k}={v}" for k, v in expected["matcher"].items())
        if not expected["judged"]:
            checks.append(_check(f"alert {matcher}", NOT_JUDGED, expected["why_not_judged"], required=False))
        elif expected["seconds_after_injection"] is None:
            checks.append(_check(f"alert {matcher}", FAIL, f"not delivered within the hold ({hold:g}s)"))
        elif expected["seconds_after_injection"] > hold:
            checks.append(
                _check(
                    f"alert {matcher}",
                    FAIL,
                    f"delivered {expected['seconds_after_injection']:.1f}s after the injection, "
                    f"after the hold ({hold:g}s)",
                )
            )
        else:
            checks.append(
                _check(
                    f"alert {matcher}",
                    PASS,
                    f"delivered {expected['seconds_after_injection']:.1f}s after the injection "
                    f"(bound: the hold, {hold:g}s)",
                )
            )
    bound = float(record["recovery_bound_seconds"])
    ttr = record["ttr_seconds"]
    if ttr is None:
        checks.append(_check("recovery", FAIL, f"the SLIs were not back within objective within {bound:g}s"))
    else:
        checks.append(
            _check(
                "recovery",
                PASS if ttr <= bound else FAIL,
                f"SLIs back within objective {ttr:.1f}s after the removal (bound {bound:g}s)",
            )
        )
    consistency = record["consistency"]
    if consistency.get("error"):
        checks.append(_check("consistency", FAIL, f"the check could not run: {consistency['error']}"))
    else:
        violations = consistency.get("violations", [])
        checks.append(
            _check(
                "consistency",
                PASS if consistency.get("consistent") else FAIL,
                "stock and orders consistent"
                if consistency.get("consistent")
                else "; ".join(f"{v['kind']} {v['subject']}: {v['message']}" for v in violations[:5]),
            )
        )
    experiment = record["experiment"]
    rollbacks = experiment.get("rollbacks", [])
    rolled_back = bool(rollbacks) and all(r.get("status") == "succeeded" for r in rollbacks)
    checks.append(
        _check(
            "rollback",
            PASS if rolled_back else FAIL,
            "the experiment's rollback ran and succeeded"
            if rolled_back
            else f"rollbacks: {[r.get('status') for r in rollbacks] or 'none ran'}",
        )
    )
    expected_degraded = sorted(record["degraded"]["expected"])
    observed = sorted(record["degraded"]["observed"])
    if not expected_degraded:
        checks.append(
            _check(
                "tolerance",
                PASS if not observed else FAIL,
                "no journey degraded, as the catalogue expects"
                if not observed
                else f"the shop must tolerate this fault, but {', '.join(observed)} degraded",
            )
        )
    checks.append(
        _check(
            "blast radius",
            INFO,
            f"degraded: {', '.join(observed) or 'none'}; "
            f"the catalogue expects: {', '.join(expected_degraded) or 'none'}"
            + (
                f"; wider than expected: {', '.join(sorted(set(observed) - set(expected_degraded)))}"
                if set(observed) - set(expected_degraded)
                else ""
            ),
            required=False,
        )
    )
    failed = [c for c in checks if c["required"] and c["result"] == FAIL]
    return {"result": FAIL if failed else PASS, "checks": checks}


# --- reading and comparing records ----------------------------------------------------------------------


class RecordError(Exception):
    """A record cannot be read; the message names the file."""


def read_record(directory: Path) -> dict[str, Any]:
    path = directory / RECORD_FILE
    try:
        record: dict[str, Any] = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise RecordError(f"no record in {directory}: {path} cannot be read ({exc.strerror})") from None
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"{path} is not JSON: {exc}") from None
    for key in ("fault", "injected_at", "verdict"):
        if key not in record:
            raise RecordError(f"{path} is not a chaos record: no {key!r}")
    return record


def records(root: Path, fault: str | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """Every record under `root` (var/chaos), of `fault` when given, oldest injection first."""
    found = []
    for path in sorted(root.glob(f"*/{RECORD_FILE}")):
        try:
            record = read_record(path.parent)
        except RecordError:
            continue
        if fault is None or record["fault"] == fault:
            found.append((path.parent, record))
    return sorted(found, key=lambda item: item[1]["injected_at"])


def _trend(current: float | None, previous: float | None, tolerance: float) -> str:
    if current is None or previous is None:
        return ""
    if current > previous + tolerance:
        return f"worse (+{current - previous:.1f}s)"
    if current < previous - tolerance:
        return f"better ({current - previous:.1f}s)"
    return "same"


def history(runs: Sequence[Mapping[str, Any]], *, tolerance_seconds: float = 1.0) -> list[dict[str, Any]]:
    """The runs of one fault (oldest first), each with TTD/TTR compared to the run before it:
    worse or better by more than `tolerance_seconds`, else the same."""
    rows = []
    previous: Mapping[str, Any] | None = None
    for run in runs:
        rows.append(
            {
                "fault": run["fault"],
                "injected_at": run["injected_at"],
                "hold_seconds": run["hold_seconds"],
                "verdict": run["verdict"]["result"],
                "ttd_seconds": run["ttd_seconds"],
                "ttr_seconds": run["ttr_seconds"],
                "ttd_trend": _trend(
                    run["ttd_seconds"], previous["ttd_seconds"] if previous else None, tolerance_seconds
                ),
                "ttr_trend": _trend(
                    run["ttr_seconds"], previous["ttr_seconds"] if previous else None, tolerance_seconds
                ),
            }
        )
        previous = run
    return rows


def render_history(rows: Sequence[Mapping[str, Any]]) -> str:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}s"

    lines = [f"{'injected (UTC)':<20} {'fault':<22} {'hold':>5} {'verdict':<7} {'TTD':>7} {'':<16} {'TTR':>7} {''}"]
    for row in rows:
        at = row["injected_at"][:19].replace("T", " ")
        lines.append(
            f"{at:<20} {row['fault']:<22} {row['hold_seconds']:>4g}s {row['verdict']:<7} "
            f"{seconds(row['ttd_seconds']):>7} {row['ttd_trend']:<16} "
            f"{seconds(row['ttr_seconds']):>7} {row['ttr_trend']}"
        )
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        if first["ttr_seconds"] is not None and last["ttr_seconds"] is not None:
            change = _trend(last["ttr_seconds"], first["ttr_seconds"], 1.0) or "same"
            lines.append(
                f"TTR over {len(rows)} runs: {seconds(first['ttr_seconds'])} -> "
                f"{seconds(last['ttr_seconds'])} ({change})"
            )
    return "\n".join(lines)


# --- what a person reads ------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _or_dash(value: object) -> str:
    return "—" if value is None else str(value)


def write_markdown(record: Mapping[str, Any]) -> str:
    verdict = record["verdict"]
    lines = [
        f"# Chaos run: {record['fault']} — {verdict['result'].upper()}",
        "",
        f"{record['title']} (layer {record['layer']}). Held {record['hold_seconds']:g} s"
        + (
            f" (the catalogue's duration is {record['catalogue_duration_seconds']:g} s)"
            if record["hold_seconds"] != record["catalogue_duration_seconds"]
            else ""
        )
        + f"; load: {record['load']['requests']} requests, {record['load']['rate_per_second']:.1f}/s through the edge.",
        "",
        "| | UTC | |",
        "|---|---|---|",
        f"| injected | {record['injected_at']} | |",
        f"| detected | {record['detected_at'] or '—'} | TTD {_seconds(record['ttd_seconds'])} |",
        f"| removed | {record['removed_at']} | |",
        f"| recovered | {record['recovered_at'] or '—'} | TTR {_seconds(record['ttr_seconds'])} "
        f"(bound {record['recovery_bound_seconds']:g} s) |",
        "",
        "## Verdict",
        "",
        "| check | result | detail |",
        "|---|---|---|",
        *(f"| {c['name']} | {c['result']} | {c['detail']} |" for c in verdict["checks"]),
        "",
        "## Alerts",
        "",
        "| expected | delivered after injection |",
        "|---|---|",
        *(
            f"| {', '.join(f'{k}={v}' for k, v in e['matcher'].items())} | "
            + (_seconds(e["seconds_after_injection"]) if e["judged"] else f"not judged: {e['why_not_judged']}")
            + " |"
            for e in record["alerts"]["expected"]
        ),
        "",
        "Fired during the run: "
        + (
            ", ".join(
                sorted(
                    {
                        f"{a['labels'].get('alertname')}{{{a['labels'].get('slo') or a['labels'].get('job', '')}}}"
                        for a in record["alerts"]["fired"]
                    }
                )
            )
            or "none"
        )
        + ".",
        "",
        "## Blast radius (the load, per journey)",
        "",
        "| journey | baseline errors | fault errors | fault p95 | fault slow share | degraded |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in record["blast_radius"]["journeys"].items():
        base, fault = entry["baseline"], entry["fault"]
        lines.append(
            f"| {name} | {base['errors']}/{base['requests']} | {fault['errors']}/{fault['requests']} | "
            f"{_or_dash(fault['p95_ms'])} ms | {_or_dash(fault['slow_ratio'])} | "
            f"{', '.join(entry['degraded']) or 'no'} |"
        )
    lines += [
        "",
        "## Error budget spent",
        "",
        "| SLO | bad / requests | of the 30-day budget | of the lab window's |",
        "|---|---|---|---|",
        *(
            f"| {b['slo']} | {b['bad']}/{b['requests']} | {b['spent_percent']:.3f} % | {b['spent_lab_percent']:.1f} % |"
            for b in record["error_budget"]
        ),
        "",
        "## Data integrity",
        "",
        "consistent" if record["consistency"].get("consistent") else f"INCONSISTENT: {record['consistency']}",
        "",
        f"Experiment: {record['experiment']['file']} — Chaos Toolkit status {record['experiment']['status']}, "
        f"steady state {'deviated' if record['experiment']['deviated'] else 'held'} after the method. "
        "Files: record.json, journal.json (Chaos Toolkit), timeline.png, postmortem.md.",
        "",
    ]
    return "\n".join(lines)


def draw_timeline(record: Mapping[str, Any], path: Path) -> None:
    """The run as a picture: load, errors and p95 latency per second, the fault window shaded,
    the alerts delivered and the recovery marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    started = epoch(record["started_at"]) or 0.0
    series = record["series"]
    seconds = [point["t"] for point in series]
    figure, axes = plt.subplots(3, 1, figsize=(12, 7), sharex=True)
    axes[0].plot(seconds, [p["requests"] for p in series], color="tab:blue")
    axes[0].set_ylabel("requests/s")
    axes[1].plot(seconds, [p["errors"] for p in series], color="tab:red")
    axes[1].set_ylabel("errors/s (5xx, none)")
    axes[2].plot(
        seconds, [p["p95_ms"] if p["p95_ms"] is not None else float("nan") for p in series], color="tab:purple"
    )
    axes[2].set_ylabel("p95 latency (ms)")
    axes[2].set_yscale("log")
    axes[2].set_xlabel(f"seconds since the load started ({record['started_at'][:19]} UTC)")
    injected = (epoch(record["injected_at"]) or started) - started
    removed = (epoch(record["removed_at"]) or started) - started
    for axis in axes:
        axis.axvspan(injected, removed, color="tab:orange", alpha=0.2, label="fault held")
        axis.grid(alpha=0.3)
    if record["recovered_at"]:
        recovered = (epoch(record["recovered_at"]) or started) - started
        for axis in axes:
            axis.axvline(recovered, color="tab:green", linestyle="--", label="SLIs back")
    colours = itertools.cycle(["black", "tab:brown", "tab:cyan", "tab:olive", "tab:pink", "navy", "tab:gray", "maroon"])
    shown: dict[str, str] = {}
    for alert in record["alerts"]["fired"]:
        if alert["status"] != "firing":
            continue
        at = (epoch(alert["received_at"]) or started) - started
        labels = alert["labels"]
        name = labels.get("alertname", "") + (f" {labels['slo']}" if "slo" in labels else f" {labels.get('job', '')}")
        first = name not in shown
        if first:
            shown[name] = next(colours)
        colour = shown[name]
        for axis in axes:
            axis.axvline(at, color=colour, linewidth=0.9, label=f"{name} fired" if first and axis is axes[0] else None)
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    figure.suptitle(
        f"{record['fault']}: TTD {_seconds(record['ttd_seconds'])}, TTR {_seconds(record['ttr_seconds'])}, "
        f"verdict {record['verdict']['result']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def postmortem_draft(record: Mapping[str, Any], journal: Mapping[str, Any] | None = None) -> str:
    """A postmortem draft in the project's template: the timeline from the Chaos Toolkit journal,
    the run's own marks and the alerts delivered; the impact from the blast radius and budget."""
    from shopfloor.incidents.postmortem import Draft, TimelineEvent, alert_events, render
    from shopfloor.observe.receiver import AlertEvent

    def at(text: str) -> datetime:
        value = datetime.fromisoformat(text)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    events = [TimelineEvent(at(record["injected_at"]), f"fault {record['fault']} injected", "chaos run")]
    events.append(TimelineEvent(at(record["removed_at"]), f"fault {record['fault']} removed (rollback)", "chaos run"))
    if record["recovered_at"]:
        events.append(TimelineEvent(at(record["recovered_at"]), "resolved: SLIs back within objective", "prometheus"))
    if journal:
        events.append(
            TimelineEvent(
                at(journal["start"]), f"experiment started: {journal['experiment']['title']}", "chaos toolkit"
            )
        )
        events.append(
            TimelineEvent(
                at(journal["end"]),
                f"experiment ended: {journal['status']}, "
                f"steady state {'deviated' if journal.get('deviated') else 'held'}",
                "chaos toolkit",
            )
        )
    delivered = [
        AlertEvent(
            at(a["received_at"]), a["receiver"], a["status"], dict(a["labels"]), starts_at=a.get("starts_at", "")
        )
        for a in record["alerts"]["fired"]
    ]
    seen: set[str] = set()
    for event in alert_events(delivered):
        line = event.line()
        if line not in seen:  # an SLO's 1m and 6m burn alerts read the same on one line
            seen.add(line)
            events.append(event)
    degraded = record["degraded"]["observed"]
    journeys = record["blast_radius"]["journeys"]
    impact_lines = [
        f"- {name}: {journeys[name]['fault']['errors']} of {journeys[name]['fault']['requests']} requests failed "
        "while the "
        f"fault was held, p95 {journeys[name]['fault']['p95_ms']} ms ({', '.join(journeys[name]['degraded'])})"
        for name in degraded
    ] or ["- No journey left its objective."]
    spent = [b for b in record["error_budget"] if b["bad"]]
    impact_lines += [
        f"- Error budget spent: {b['slo']} {b['spent_percent']:.3f} % of 30 days "
        f"({b['spent_lab_percent']:.1f} % of the lab window)"
        for b in spent
    ]
    impact_lines.append(
        "- Orders: "
        + (
            "stock and orders consistent (`shopfloor check-consistency`), none lost."
            if record["consistency"].get("consistent")
            else f"INCONSISTENT: {record['consistency']}"
        )
    )
    detection = (
        f"{record['detected_by']} was delivered {record['ttd_seconds']:.1f} s after the injection (time to detect)."
        if record["ttd_seconds"] is not None
        else "No expected alert was delivered during the run."
    )
    draft = Draft(
        title=f"{record['title']} (chaos run {record['fault']})",
        summary=(
            f"A chaos run injected {record['fault']} ({record['breaks']}) for {record['hold_seconds']:g} s "
            f"on the local stack. Time to detect {_seconds(record['ttd_seconds'])}, "
            f"time to recover after the removal {_seconds(record['ttr_seconds'])}; "
            f"verdict {record['verdict']['result']}."
        ),
        impact="\n".join(impact_lines),
        events=events,
        trigger=f"The catalogued fault {record['fault']} (chaos/faults.yaml), injected on purpose by "
        "`shopfloor chaos run`.",
        detection=detection,
        resolution=(
            f"The experiment's rollback removed the fault at {record['removed_at'][11:19]} UTC; "
            "the SLIs were back within "
            f"objective {_seconds(record['ttr_seconds'])} later. Runbook: runbooks/{record['runbook']}.md."
        ),
        sources=[f"{record['fault']}'s record.json", "journal.json"],
    )
    return render(draft)
