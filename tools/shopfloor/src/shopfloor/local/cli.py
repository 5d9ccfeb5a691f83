"""The local stack's commands: `run` (make run) and `edge`."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

from shopfloor.commands import (
    CommandError,
    CommandGroup,
    default_edge_port,
    env_port,
    name_port,
    port,
    prefix_url,
    repo_root,
)

if TYPE_CHECKING:
    from shopfloor.observe.local_stack import ObserveOptions

TITLE = "local stack"


def register(group: CommandGroup) -> None:
    run = group.add(
        "run",
        help="run the whole shop locally (make run)",
        handler=_run,
        description="Run every service under apps/ as a local process on embedded defaults (SQLite, in-process "
        "cache), behind an edge router that routes like the cluster Ingress. Your environment reaches the "
        "services (e.g. LOG_LEVEL); ADMIN_API_KEY is yours when set, else generated once and kept in "
        "var/local/admin-key. Every service's log lines also go to var/local/logs/<service>.jsonl (query them "
        "with `shopfloor logs`). --postgres and --redis run the shop on real servers instead.",
    )
    run.add_argument("--port", type=port, default=None, help="edge router port (default: $EDGE_PORT or 8000)")
    run.add_argument(
        "--service-port",
        type=name_port,
        action="append",
        default=[],
        metavar="SERVICE=PORT",
        help="run a service on another port than its [tool.shopfloor] port (repeatable)",
    )
    run.add_argument("--free-ports", action="store_true", help="run every service on a free port the OS picks")
    run.add_argument("--state-dir", type=Path, help="databases, the admin key and the logs (default: <repo>/var/local)")
    run.add_argument("--bin-dir", type=Path, help="where the service commands are (default: next to this Python)")
    run.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server (postgresql://user@host:port/postgres): one database per service on it, "
        "shopfloor_local_<service>, kept across runs",
    )
    run.add_argument("--redis", metavar="URL", help="a Redis (redis://host:6379/0) for the shared cache and rate limit")
    run.add_argument(
        "--ready-timeout", type=float, default=30.0, help="seconds each service may take to get ready (default 30)"
    )
    run.add_argument("--raw-logs", action="store_true", help="print the services' JSON log lines as they are")
    observe = run.add_argument_group(
        "observe (make observe)",
        "With --observe, a real Prometheus scrapes every service with the cluster's labels and rules (the lab "
        "profile of the SLO alerts) and a real Alertmanager delivers alerts to the local receiver "
        "(`shopfloor alerts`), and to Slack when SLACK_WEBHOOK_URL is set. Debian's prometheus and "
        "prometheus-alertmanager must be installed.",
    )
    observe.add_argument("--observe", action="store_true", help="also run Prometheus and Alertmanager")
    observe.add_argument(
        "--prometheus-port", type=port, default=None, help="Prometheus's port (default: $PROMETHEUS_PORT or 9090)"
    )
    observe.add_argument(
        "--alertmanager-port", type=port, default=None, help="Alertmanager's port (default: $ALERTMANAGER_PORT or 9093)"
    )

    edge = group.add("edge", help="run only the edge router in front of services you started yourself", handler=_edge)
    edge.add_argument(
        "--route", type=prefix_url, action="append", required=True, metavar="PREFIX=URL", help="repeatable"
    )
    edge.add_argument("--port", type=port, default=None, help="default: $EDGE_PORT or 8000")


def _run(args: argparse.Namespace) -> int:
    from shopfloor.local.console import Console
    from shopfloor.local.run import run_stack
    from shopfloor.local.stack import StackOptions

    repo = repo_root(args)
    state_dir = (args.state_dir or repo / "var" / "local").resolve()
    options = StackOptions(
        repo=repo,
        state_dir=state_dir,
        log_dir=state_dir / "logs",
        edge_port=args.port if args.port is not None else default_edge_port(),
        port_overrides=dict(args.service_port),
        free_ports=args.free_ports,
        bin_dir=args.bin_dir,
        ready_timeout_seconds=args.ready_timeout,
        postgres_url=args.postgres,
        redis_url=args.redis,
        environ=os.environ,
    )
    return run_stack(options, Console([], raw=args.raw_logs), observe=_observe_options(args))


def _observe_options(args: argparse.Namespace) -> ObserveOptions | None:
    from shopfloor.observe.local_stack import DEFAULT_ALERTMANAGER_PORT, DEFAULT_PROMETHEUS_PORT, ObserveOptions

    if not args.observe:
        given = [
            flag
            for flag, value in [
                ("--prometheus-port", args.prometheus_port),
                ("--alertmanager-port", args.alertmanager_port),
            ]
            if value is not None
        ]
        if given:
            raise CommandError(f"{' and '.join(given)} only mean something with --observe")
        return None
    return ObserveOptions(
        prometheus_port=args.prometheus_port
        if args.prometheus_port is not None
        else env_port("PROMETHEUS_PORT", DEFAULT_PROMETHEUS_PORT),
        alertmanager_port=args.alertmanager_port
        if args.alertmanager_port is not None
        else env_port("ALERTMANAGER_PORT", DEFAULT_ALERTMANAGER_PORT),
        slack_webhook_url=os.environ.get("SLACK_WEBHOOK_URL") or None,
        port_hints={
            "prometheus": "--prometheus-port (or PROMETHEUS_PORT)",
            "alertmanager": "--alertmanager-port (or ALERTMANAGER_PORT)",
        },
    )


def _edge(args: argparse.Namespace) -> int:
    from shopfloor.local.edge import run_edge_forever

    return asyncio.run(run_edge_forever(args.route, args.port if args.port is not None else default_edge_port()))
