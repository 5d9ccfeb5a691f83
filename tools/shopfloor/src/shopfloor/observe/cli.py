"""Observability commands: `slo` (generate, report), `alerts`, `logs`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from shopfloor.commands import CommandError, CommandGroup, repo_root

TITLE = "observe"


def register(group: CommandGroup) -> None:
    slo = group.add(
        "slo",
        help="SLOs as code: generate rules, dashboards and k6 thresholds from observability/slos.yaml",
        handler=_slo,
    )
    actions = slo.add_subparsers(dest="slo_command", required=True, metavar="ACTION")
    generate = actions.add_parser(
        "generate",
        help="write observability/generated/ from observability/slos.yaml",
        description="Write the recording rules and burn-rate alerts (production and lab profiles), the "
        "dashboards and the k6 thresholds made from observability/slos.yaml into observability/generated/.",
    )
    generate.add_argument("--check", action="store_true", help="exit 1 when a generated file is out of date")

    # --- slo report and alerts: the local stack's Prometheus and Alertmanager (make observe) ---
    report = actions.add_parser(
        "report",
        help="where every SLO stands: a table here, PNG plots of SLI, burn rate and budget left",
        description="Ask a Prometheus that runs the SLO rules (default: the local one of `make observe`) where "
        "every SLO stands: per SLO the objective, the SLI and error budget left over the SLO window and the "
        "burn rates, as a table; and one PNG per journey of its SLI, burn rate and budget left over --since.",
    )
    report.add_argument(
        "--prometheus",
        metavar="URL",
        default=None,
        help="any Prometheus with the SLO rules (default: $PROMETHEUS_URL or http://127.0.0.1:9090)",
    )
    report.add_argument("--since", type=window_text, default="1h", help="the plots' window: 30m, 1h, 6h ... (1h)")
    report.add_argument("--out", type=Path, default=None, help="where the PNGs go (default: <repo>/var/slo-report)")
    report.add_argument("--no-plots", action="store_true", help="the table only")

    alerts = group.add(
        "alerts",
        help="alerts the local receiver got (make observe), or with --active those Alertmanager holds",
        handler=_alerts,
        description="List the alerts the local receiver of `make observe` was sent (var/local/observe/alerts.jsonl): "
        "when, firing or resolved, to which receiver, the alert, its severity, where, its summary. With --active, "
        "the alerts an Alertmanager holds now (active, or suppressed by an inhibition or silence).",
    )
    alerts.add_argument("--active", action="store_true", help="ask Alertmanager for the alerts it holds now")
    alerts.add_argument(
        "--alertmanager",
        metavar="URL",
        default=None,
        help="with --active (default: $ALERTMANAGER_URL or http://127.0.0.1:9093)",
    )
    alerts.add_argument("--file", type=Path, default=None, help="default: <repo>/var/local/observe/alerts.jsonl")
    alerts.add_argument("--limit", type=int, default=50, help="the last N alerts delivered (0: all; default 50)")
    alerts.add_argument("--json", action="store_true", help="JSON instead of a table")


def window_text(text: str) -> str:
    from shopfloor.observe.slos import duration_seconds

    try:
        seconds = duration_seconds(text)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration like 30m, 1h or 6h, got {text!r}")
    return text


def _slo(args: argparse.Namespace) -> int:
    if args.slo_command == "report":
        return _slo_report(args)
    from shopfloor.observe.generate import stale_files, write_generated
    from shopfloor.observe.slos import SloError

    repo = repo_root(args)
    try:
        if args.check:
            stale = stale_files(repo)
            for name in stale:
                print(f"out of date: {name}")
            if stale:
                print("run `shopfloor slo generate` and commit the result")
            return 1 if stale else 0
        for path in write_generated(repo):
            print(f"wrote {path}")
    except SloError as exc:
        raise CommandError(str(exc)) from None
    return 0


def _slo_report(args: argparse.Namespace) -> int:
    from shopfloor.observe.report import ReportError, render_table, run_report
    from shopfloor.observe.slos import SloError, duration_seconds, load_slos

    repo = repo_root(args)
    prometheus = args.prometheus or os.environ.get("PROMETHEUS_URL") or "http://127.0.0.1:9090"
    out = None if args.no_plots else (args.out or repo / "var" / "slo-report").resolve()
    try:
        report = run_report(
            prometheus,
            load_slos(repo),
            since_seconds=duration_seconds(args.since),
            since_text=args.since,
            out=out,
        )
    except (ReportError, SloError) as exc:
        raise CommandError(str(exc)) from None
    print(render_table(report))
    for path in report.figures:
        print(f"wrote {path}")
    return 0


def _alerts(args: argparse.Namespace) -> int:
    from shopfloor.observe.alerts import AlertsError, active, delivered
    from shopfloor.observe.receiver import DEFAULT_ALERTS_FILE, ReceiverError

    if args.limit < 0:
        raise CommandError(f"--limit: expected 0 or more, got {args.limit}")
    try:
        if args.active:
            url = args.alertmanager or os.environ.get("ALERTMANAGER_URL") or "http://127.0.0.1:9093"
            print(active(url, as_json=args.json))
        else:
            log_file = args.file or repo_root(args) / DEFAULT_ALERTS_FILE
            print(delivered(log_file, limit=args.limit, as_json=args.json))
    except (AlertsError, ReceiverError) as exc:
        raise CommandError(str(exc)) from None
    return 0
