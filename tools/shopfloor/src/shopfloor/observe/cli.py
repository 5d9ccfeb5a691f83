"""Observability commands: `slo` (generate, dashboard-schema, report), `alerts`, `logs`."""

from __future__ import annotations

import argparse

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


def _slo(args: argparse.Namespace) -> int:
    if args.slo_command == "dashboard-schema":
        return _dashboard_schema(args)
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
