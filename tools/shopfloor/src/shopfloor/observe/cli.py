"""Observability commands: `slo` (generate, dashboard-schema, report), `alerts`, `logs`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from shopfloor.commands import CommandError, CommandGroup, repo_root

TITLE = "observe"


def register(group: CommandGroup) -> None:
    register_logs(group)  # below, in a block of its own
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
    schema = actions.add_parser(
        "dashboard-schema",
        help="derive Grafana's dashboard JSON Schema from npm @grafana/schema (needs Node.js and npm)",
        description="Install the packages pinned in observability/grafana-schema/ (npm ci, under var/) and "
        "derive the JSON Schema of Grafana's Dashboard type with ts-json-schema-generator into "
        "observability/grafana-schema/dashboard.schema.json, which the generated dashboards are validated against.",
    )
    schema.add_argument(
        "--check", action="store_true", help="exit 1 when the committed schema differs from the derived one"
    )

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
    if args.slo_command == "dashboard-schema":
        return _dashboard_schema(args)
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


def _dashboard_schema(args: argparse.Namespace) -> int:
    from shopfloor.observe.dashboard_schema import (
        SCHEMA_FILE,
        DashboardSchemaError,
        derive_schema,
        load_schema,
        schema_text,
    )

    repo = repo_root(args)
    try:
        derived = derive_schema(repo, repo / "var" / "grafana-schema")
        if args.check:
            if load_schema(repo) != derived:
                print(f"out of date: {SCHEMA_FILE} (run `shopfloor slo dashboard-schema` and commit it)")
                return 1
            print(f"{SCHEMA_FILE} matches the schema derived from the pinned packages")
            return 0
    except DashboardSchemaError as exc:
        raise CommandError(str(exc)) from None
    (repo / SCHEMA_FILE).write_text(schema_text(derived), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
    return 0


# --- logs ----------------------------------------------------------------------------------------


def register_logs(group: CommandGroup) -> None:
    logs = group.add(
        "logs",
        help="query the local shop's logs (var/local/logs): one request across services, errors, counts",
        handler=_logs,
        description="Query the JSON log lines `shopfloor run` keeps in var/local/logs/<service>.jsonl, with\n"
        "DuckDB. Filters combine; lines come in time order (UTC), the newest --limit of those that\n"
        "match. Exit code 1 when no line matches, 2 for bad input or no logs yet.\n\n"
        "examples:\n"
        "  shopfloor logs --request-id 3f2c...        one request through every service it crossed\n"
        "  shopfloor logs --status 5xx --since 10m    the server errors of the last ten minutes\n"
        "  shopfloor logs --level error --service orders --grep timeout\n"
        "  shopfloor logs --stats --since 1h          counts by service, level and status\n"
        "  shopfloor logs --status 5xx --wait 30      the first server errors, once there are any",
    )
    logs.add_argument("--request-id", metavar="ID", help="the lines of one request (its X-Request-ID)")
    logs.add_argument(
        "--service", action="append", default=[], metavar="NAME", help="only this service's lines (repeatable)"
    )
    logs.add_argument("--level", help="this level and above: debug, info, warning, error, critical")
    logs.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="CODE",
        help="access lines with this status: 404, 5xx (repeatable)",
    )
    logs.add_argument(
        "--since", metavar="WHEN", help="a duration ago (30s, 10m, 2h, 1d) or a UTC time (2026-11-30T12:00)"
    )
    logs.add_argument("--until", metavar="WHEN", help="as --since")
    logs.add_argument("--grep", metavar="TEXT", help="lines whose message or traceback holds TEXT (any case)")
    logs.add_argument("--limit", type=int, default=100, metavar="N", help="at most the newest N lines (default 100)")
    logs.add_argument("--json", action="store_true", help="the records as written (JSON lines), not a table")
    logs.add_argument("--stats", action="store_true", help="counts by service, level and status instead of lines")
    logs.add_argument("--dir", type=Path, help="the log folder (default: <repo>/var/local/logs)")
    logs.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="while no line matches, read the files again every half second for at most this long (a fault "
        "just injected may not have failed a request yet); exit 1 if none came",
    )


def _logs(args: argparse.Namespace) -> int:
    from shopfloor.observe.logs import LogFilter, LogsError, LogsRequest, show_logs

    try:
        request = LogsRequest(
            folder=args.dir or repo_root(args) / "var" / "local" / "logs",
            log_filter=LogFilter.from_options(
                request_id=args.request_id,
                services=args.service,
                level=args.level,
                statuses=args.status,
                since=args.since,
                until=args.until,
                grep=args.grep,
            ),
            limit=args.limit,
            as_json=args.json,
            stats=args.stats,
            wait_seconds=args.wait,
        )
        return show_logs(request)
    except LogsError as exc:
        raise CommandError(str(exc)) from None


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
