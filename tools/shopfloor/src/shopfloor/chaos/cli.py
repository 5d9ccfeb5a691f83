"""Chaos commands: `chaos catalogue` (the catalogue table in docs/chaos.md), `chaos validate`,
`chaos experiments` (chaos/experiments/), `chaos run FAULT` (a run with its record), `chaos history`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from shopfloor.commands import CommandError, CommandGroup, repo_root, write_or_check_block

TITLE = "chaos"


def register(group: CommandGroup) -> None:
    chaos = group.add(
        "chaos",
        help="chaos engineering: the fault catalogue (chaos/faults.yaml) and what it names",
        handler=_no_action,
    )
    actions = chaos.add_subparsers(dest="chaos_command", required=True, metavar="ACTION")
    catalogue = actions.add_parser(
        "catalogue",
        help="print the catalogue table of docs/chaos.md, or write or check it",
        description="The fault catalogue as a table (id, layer, what breaks, local injection, the Chaos Mesh "
        "object or FIS template, expected alerts, runbook, recovery bound), generated from chaos/faults.yaml.",
    )
    catalogue.add_argument("--write", action="store_true", help="replace the table in docs/chaos.md")
    catalogue.add_argument("--check", action="store_true", help="exit 1 when docs/chaos.md's table is out of date")
    catalogue.set_defaults(handler=_catalogue)
    validate = actions.add_parser(
        "validate",
        help="check chaos/faults.yaml and everything it names; exit 1 listing each problem",
        description="Check the catalogue on its own and against the files it names: the Chaos Mesh objects and "
        "FIS templates exist, the runbooks exist, the degraded journeys are SLO journeys, the expected "
        "alerts are defined by the alert rules, the services exist.",
    )
    validate.set_defaults(handler=_validate)
    experiments = actions.add_parser(
        "experiments",
        help="write or check the Chaos Toolkit experiments of chaos/experiments/ (generated from the catalogue)",
        description="One Chaos Toolkit experiment per fault the local stack can inject "
        "(chaos/experiments/<fault>.yaml) and per fault with a Chaos Mesh object "
        "(chaos/experiments/cluster/<fault>.yaml), generated from chaos/faults.yaml and observability/slos.yaml.",
    )
    experiments.add_argument("--write", action="store_true", help="rewrite the files")
    experiments.add_argument("--check", action="store_true", help="exit 1 when a file is out of date")
    experiments.set_defaults(handler=_experiments)
    run = actions.add_parser(
        "run",
        help="run one catalogued fault on the local stack and write its resilience record (make chaos FAULT=...)",
        description="Start the shop with Prometheus and Alertmanager (free loopback ports) behind fault proxies, run a "
        "steady load through the edge, run the fault's Chaos Toolkit experiment (inject, hold, rollback always), wait "
        "for the SLIs to be back within objective, check the stock and orders, and write "
        "var/chaos/<UTC timestamp>-<fault>/: record.json, record.md, timeline.png, postmortem.md, journal.json.",
    )
    run.add_argument("fault", metavar="FAULT", help="a fault id of chaos/faults.yaml (shopfloor chaos catalogue)")
    run.add_argument(
        "--duration",
        metavar="DURATION",
        help="hold the fault this long (30s, 1m) instead of the catalogue's duration; alerts whose rule waits "
        "longer are then not judged",
    )
    run.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("SHOPFLOOR_POSTGRES_URL"),
        help="a PostgreSQL server (postgresql://postgres@127.0.0.1:5432/postgres) for the shop: needed by the "
        "database faults; throwaway databases are made on it (default: $SHOPFLOOR_POSTGRES_URL)",
    )
    run.add_argument(
        "--redis",
        metavar="URL",
        default=os.environ.get("SHOPFLOOR_REDIS_URL"),
        help="a Redis (redis://127.0.0.1:6379/0) for the shop: needed by redis-down (default: $SHOPFLOOR_REDIS_URL)",
    )
    run.add_argument("--records", type=Path, metavar="DIR", help="where records go (default: <repo>/var/chaos)")
    run.set_defaults(handler=_run)
    history = actions.add_parser(
        "history",
        help="compare the recorded runs of a fault: TTD and TTR over time, worse or better",
        description="List the records under var/chaos (of FAULT when given), oldest first, each run's TTD and TTR "
        "compared with the run before it of the same fault.",
    )
    history.add_argument("fault", nargs="?", metavar="FAULT")
    history.add_argument("--records", type=Path, metavar="DIR", help="default: <repo>/var/chaos")
    history.add_argument("--json", action="store_true", help="print JSON")
    history.set_defaults(handler=_history)


def _no_action(args: argparse.Namespace) -> int:
    raise CommandError(
        "name an action: catalogue, validate, experiments, run or history"
    )  # argparse requires one first


def _catalogue(args: argparse.Namespace) -> int:
    from shopfloor.chaos.catalogue import CatalogueError, read_catalogue
    from shopfloor.chaos.catalogue_table import DOC_FILE, catalogue_table, replace_table

    repo = repo_root(args)
    try:
        table = catalogue_table(repo, read_catalogue(repo))
    except CatalogueError as exc:
        raise CommandError(str(exc)) from None
    return write_or_check_block(
        args, repo, DOC_FILE, table, replace_table, what="catalogue table", command="shopfloor chaos catalogue"
    )


def _validate(args: argparse.Namespace) -> int:
    from shopfloor.chaos.catalogue import CatalogueError, check_references, read_catalogue

    repo = repo_root(args)
    try:
        catalogue = read_catalogue(repo)
    except CatalogueError as exc:
        print(exc)
        return 1
    problems = check_references(repo, catalogue)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problems in chaos/faults.yaml")
        return 1
    print(f"chaos/faults.yaml: {len(catalogue.faults)} faults, every reference found")
    return 0


def _experiments(args: argparse.Namespace) -> int:
    from shopfloor.chaos.catalogue import CatalogueError, read_catalogue
    from shopfloor.chaos.experiments import experiment_files, stale_files, write_files
    from shopfloor.observe.slos import SloError, load_slos

    repo = repo_root(args)
    try:
        catalogue, source = read_catalogue(repo), load_slos(repo)
    except (CatalogueError, SloError) as exc:
        raise CommandError(str(exc)) from None
    if args.write:
        for path in write_files(repo, catalogue, source):
            print(f"wrote {path}")
        return 0
    if args.check:
        problems = stale_files(repo, catalogue, source)
        for problem in problems:
            print(problem)
        if problems:
            print("run `shopfloor chaos experiments --write`")
            return 1
        return 0
    for path, _ in experiment_files(repo, catalogue, source):
        print(path)
    return 0


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import shutil
    import sys
    from datetime import UTC, datetime

    from shopfloor.chaos.catalogue import CatalogueError, duration_seconds, load_catalogue
    from shopfloor.chaos.inject import InjectError
    from shopfloor.chaos.record import read_record
    from shopfloor.chaos.runner import ChaosError, ChaosStack, RunOptions, run_fault
    from shopfloor.local.stack import StackError

    repo = repo_root(args)
    try:
        catalogue = load_catalogue(repo)
        fault = catalogue.fault(args.fault)
    except CatalogueError as exc:
        raise CommandError(str(exc)) from None
    except KeyError as exc:
        raise CommandError(str(exc.args[0])) from None
    if fault.local is None:
        raise CommandError(f"{fault.id} cannot run on the local stack: {fault.local_why_not}")
    hold = None
    if args.duration:
        try:
            hold = duration_seconds(args.duration)
        except ValueError as exc:
            raise CommandError(f"--duration: {exc}") from None
        if not 1 <= hold <= 3600:
            raise CommandError(f"--duration: {args.duration} is not between 1s and 1h")
    for need, given, flag in (("postgres", args.postgres, "--postgres"), ("redis", args.redis, "--redis")):
        if need in fault.needs and not given:
            example = (
                "postgresql://postgres@127.0.0.1:5432/postgres" if need == "postgres" else "redis://127.0.0.1:6379/0"
            )
            raise CommandError(
                f"{fault.id} needs {need}: pass {flag} {example} (make chaos FAULT={fault.id} {need.upper()}=URL)"
            )

    def say(message: str) -> None:
        print(f"{datetime.now(UTC):%H:%M:%S} chaos: {message}", flush=True)

    async def main() -> int:
        state = repo / "var" / "chaos" / "stack"
        # The stack's own scratch state (SQLite files, logs) starts fresh: a shop sold out by the
        # previous run's load would turn checkouts into 409s and hide what the fault does.
        shutil.rmtree(state, ignore_errors=True)
        say(f"starting the shop, Prometheus and Alertmanager ({state})")
        async with ChaosStack.start(repo, state, postgres_url=args.postgres, redis_url=args.redis, say=say) as stack:
            say(f"shop on {stack.observed.shop.edge_url}, Prometheus on {stack.observed.prometheus_url}")
            directory = await run_fault(
                stack, fault.id, RunOptions(hold_seconds=hold, records_dir=args.records, say=say)
            )
        print(f"record: {directory}")
        for name in ("record.md", "record.json", "timeline.png", "postmortem.md", "journal.json"):
            print(f"  {directory / name}")
        record_md = (directory / "record.md").read_text(encoding="utf-8")
        print(record_md.split("## Alerts")[0].rstrip())
        return 0 if read_record(directory)["verdict"]["result"] == "pass" else 1

    try:
        return asyncio.run(main())
    except (ChaosError, InjectError, StackError) as exc:
        print(f"chaos run {fault.id} failed: {exc}", file=sys.stderr)
        return 1


def _history(args: argparse.Namespace) -> int:
    import json

    from shopfloor.chaos.record import history, records, render_history

    repo = repo_root(args)
    root = args.records or repo / "var" / "chaos"
    found = records(root, args.fault)
    if not found:
        raise CommandError(
            f"no chaos records{' of ' + args.fault if args.fault else ''} under {root}: run `shopfloor chaos run FAULT`"
        )
    by_fault: dict[str, list[dict[str, object]]] = {}
    for _, record in found:
        by_fault.setdefault(str(record["fault"]), []).append(record)
    rows = [row for runs in by_fault.values() for row in history(runs)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for fault, runs in by_fault.items():
        print(render_history(history(runs)))
        if len(by_fault) > 1 and fault != list(by_fault)[-1]:
            print()
    return 0
