"""`shopfloor`: the repo's operations, called by the Makefile, CI, learners and tests alike."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from shopfloor.discovery import DiscoveryError, find_repo_root
from shopfloor.stack import DEFAULT_EDGE_PORT, RunOptions, run_stack


def _name_port(text: str) -> tuple[str, int]:
    name, sep, port = text.partition("=")
    if not sep or not name or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected SERVICE=PORT (e.g. catalog=18081), got {text!r}")
    return name, int(port)


def _prefix_url(text: str) -> tuple[str, str]:
    prefix, sep, url = text.partition("=")
    if not sep or not prefix.startswith("/") or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected PREFIX=URL (e.g. /api=http://127.0.0.1:8080), got {text!r}")
    return prefix, url


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 86400, got {text!r}")
    return value


def _default_edge_port() -> int:
    value = os.environ.get("EDGE_PORT")
    if value is None:
        return DEFAULT_EDGE_PORT
    try:
        return _port(value)
    except argparse.ArgumentTypeError:
        print(f"EDGE_PORT: not a TCP port: {value!r}", file=sys.stderr)
        raise SystemExit(2) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shopfloor", description="Shopfloor repository operations.")
    parser.add_argument("--repo", type=Path, help="the repository root (default: found from the working directory)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the whole shop locally (make run)",
        description="Run every service under apps/ as a local process on embedded defaults (SQLite, in-process "
        "cache), behind an edge router that routes like the cluster Ingress. Your environment reaches the "
        "services (e.g. REDIS_URL); ADMIN_API_KEY is yours when set, else generated once and kept in "
        "var/local/admin-key.",
    )
    run.add_argument(
        "--port", type=_port, default=None, help=f"edge router port (default: $EDGE_PORT or {DEFAULT_EDGE_PORT})"
    )
    run.add_argument(
        "--service-port",
        type=_name_port,
        action="append",
        default=[],
        metavar="SERVICE=PORT",
        help="run a service on another port than its [tool.shopfloor] port (repeatable)",
    )
    run.add_argument("--free-ports", action="store_true", help="run every service on a free port the OS picks")
    run.add_argument("--state-dir", type=Path, help="databases and the admin key (default: <repo>/var/local)")
    run.add_argument("--bin-dir", type=Path, help="where the service commands are (default: next to this Python)")
    run.add_argument(
        "--ready-timeout", type=float, default=30.0, help="seconds each service may take to get ready (default 30)"
    )
    run.add_argument("--raw-logs", action="store_true", help="print the services' JSON log lines as they are")

    bench = commands.add_parser(
        "bench",
        help="k6 benchmarks on loopback (make bench); figures go to docs/performance.md",
        description="Start catalog, orders and api-gateway on fresh PostgreSQL databases and measure, in one k6 "
        "run, the gateway's throughput as a ratio of catalog's own and the gateway's p99 at a fixed arrival rate; "
        "then, in a second run, checkouts per second through the gateway and the p99 of POST /api/orders.",
    )
    bench.add_argument(
        "--database-url",
        help="PostgreSQL server to create the bench database on (default: "
        "$BENCH_DATABASE_URL, $TEST_DATABASE_URL, or postgres@127.0.0.1:5432)",
    )
    bench.add_argument("--vus", type=int, default=32, help="virtual users of the throughput scenarios (default 32)")
    bench.add_argument("--throughput-seconds", type=int, default=15, help="length of each throughput scenario")
    bench.add_argument("--rate", type=int, default=200, help="arrival rate of the latency scenario, req/s")
    bench.add_argument("--latency-seconds", type=int, default=20, help="length of the latency scenario")
    bench.add_argument("--checkout-vus", type=int, default=16, help="virtual users of the checkout scenario")
    bench.add_argument("--checkout-seconds", type=int, default=15, help="length of the checkout scenario")
    bench.add_argument("--no-docs", action="store_true", help="do not write docs/performance.md")
    bench.add_argument(
        "--compare-clients", action="store_true", help="also compare aiohttp and httpx forwarding (a small extra run)"
    )

    edge = commands.add_parser("edge", help="run only the edge router in front of services you started yourself")
    edge.add_argument(
        "--route", type=_prefix_url, action="append", required=True, metavar="PREFIX=URL", help="repeatable"
    )
    edge.add_argument("--port", type=_port, default=None, help=f"default: $EDGE_PORT or {DEFAULT_EDGE_PORT}")

    render = commands.add_parser(
        "render",
        help="render an environment's manifests with Helm's engine (make render ENV=<env>)",
        description="Render every chart the environment deploys with its values from environments/<env>/, as "
        "Argo CD will apply them, into one YAML stream to read top to bottom. Without --out it is printed.",
    )
    render.add_argument(
        "--env",
        action="append",
        required=True,
        metavar="ENV",
        help="environment under environments/ (repeatable; `all` for every one)",
    )
    render.add_argument("--out", type=Path, help="write <DIR>/<env>.yaml instead of printing")

    config_table = commands.add_parser(
        "config-table", help="print the configuration table generated from the services' settings classes"
    )
    config_table.add_argument(
        "--write", action="store_true", help="replace the table in README.md instead of printing it"
    )
    config_table.add_argument(
        "--check", action="store_true", help="exit 1 when README.md's table differs from the generated one"
    )

    consistency = commands.add_parser(
        "check-consistency",
        help="check that stock and orders add up, through the HTTP APIs (chaos experiments call it)",
        description="For every product: initial stock = stock + units held by CONFIRMED/PAID/SHIPPED/DELIVERED "
        "orders; no order PENDING for longer than --max-pending-age; no order listed twice; every acknowledged "
        "order exists once. Run it when the traffic has stopped. Exit 0 consistent, 1 not (each violation "
        "named), 2 when it could not check.",
    )
    consistency.add_argument(
        "--gateway-url", help="the public API root, e.g. http://127.0.0.1:8000/api (default: the local edge's)"
    )
    consistency.add_argument("--catalog-url", help="catalog's own address (with --orders-url, instead of the gateway)")
    consistency.add_argument("--orders-url", help="orders' own address (with --catalog-url)")
    consistency.add_argument("--api-key", help="sent as X-API-Key (default: $ADMIN_API_KEY when set)")
    consistency.add_argument(
        "--snapshot", type=Path, metavar="FILE", help="only record the initial stock (stock + held, per sku) in FILE"
    )
    consistency.add_argument(
        "--initial-stock", type=Path, metavar="FILE", help="JSON {sku: units} written by --snapshot earlier"
    )
    consistency.add_argument(
        "--max-pending-age",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="longest an order may stay PENDING (default 60)",
    )
    consistency.add_argument(
        "--acknowledged", type=Path, metavar="FILE", help="order ids clients were told about, one a line"
    )
    consistency.add_argument(
        "--settle",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="while inconsistent (or, for --snapshot, while orders are PENDING), look again every second this long",
    )
    consistency.add_argument("--json", action="store_true", help="print the report as JSON")

    from shopfloor.delivery_cli import add_delivery_commands

    add_delivery_commands(commands)

    from shopfloor.images_cli import add_images_commands

    add_images_commands(commands)

    screenshots = commands.add_parser(
        "screenshots",
        help="screenshots of the main pages in Chromium (make screenshots)",
        description="Start the shop on free ports in a scratch folder, click one purchase through in Chromium and "
        "save catalog, product, cart, order and admin as PNG files.",
    )
    screenshots.add_argument("--out", type=Path, help="folder for the PNG files (default: <repo>/docs/screenshots)")
    screenshots.add_argument("--chromium", help="the browser binary (default: $CHROMIUM_PATH or /usr/bin/chromium)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        repo = args.repo.resolve() if args.repo else find_repo_root()
    except DiscoveryError as exc:
        print(f"shopfloor: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    if args.command == "run":
        options = RunOptions(
            repo=repo,
            state_dir=(args.state_dir or repo / "var" / "local").resolve(),
            edge_port=args.port if args.port is not None else _default_edge_port(),
            port_overrides=dict(args.service_port),
            free_ports=args.free_ports,
            bin_dir=args.bin_dir,
            ready_timeout_seconds=args.ready_timeout,
            raw_logs=args.raw_logs,
        )
        raise SystemExit(run_stack(options))
    if args.command == "bench":
        from shopfloor.bench import BenchOptions, run_bench

        bench_options = BenchOptions(
            repo=repo,
            database_url=args.database_url,
            vus=args.vus,
            throughput_seconds=args.throughput_seconds,
            rate=args.rate,
            latency_seconds=args.latency_seconds,
            write_docs=not args.no_docs,
            compare_clients=args.compare_clients,
            checkout_vus=args.checkout_vus,
            checkout_seconds=args.checkout_seconds,
        )
        raise SystemExit(run_bench(bench_options))
    if args.command == "edge":
        from shopfloor.edge import run_edge_forever

        port = args.port if args.port is not None else _default_edge_port()
        raise SystemExit(asyncio.run(run_edge_forever(args.route, port)))
    if args.command == "render":
        raise SystemExit(_render(repo, args.env, args.out))
    if args.command == "config-table":
        raise SystemExit(_config_table(repo, write=args.write, check=args.check))
    if args.command == "check-consistency":
        from shopfloor.consistency import run_check_consistency

        raise SystemExit(run_check_consistency(args, default_edge_port=_default_edge_port))
    if args.command in ("bump", "promote", "smoke"):
        from shopfloor.delivery_cli import run_delivery_command

        raise SystemExit(run_delivery_command(repo, args))
    if args.command in ("images", "changed"):
        from shopfloor.images_cli import run_images_command

        raise SystemExit(run_images_command(repo, args))
    if args.command == "screenshots":
        from shopfloor.screenshots import run_screenshots

        raise SystemExit(run_screenshots(repo, args.out or repo / "docs" / "screenshots", args.chromium))
    raise AssertionError(f"unhandled command {args.command}")


def _config_table(repo: Path, *, write: bool, check: bool) -> int:
    from shopfloor.configdoc import config_table, replace_table

    table = config_table(repo)
    if not (write or check):
        print(table, end="")
        return 0
    readme = repo / "README.md"
    current = readme.read_text()
    updated = replace_table(current, table)
    if check:
        if updated != current:
            print("README.md's configuration table is out of date: run `shopfloor config-table --write`")
            return 1
        return 0
    readme.write_text(updated)
    print(f"updated the configuration table in {readme}")
    return 0


def _render(repo: Path, requested: list[str], out_dir: Path | None) -> int:
    from shopfloor.delivery.render import RenderError, environments, render_environments, write_rendered

    names = environments(repo) if "all" in requested else list(dict.fromkeys(requested))
    try:
        for rendered in render_environments(repo, names):
            if out_dir is None:
                sys.stdout.write(rendered.to_yaml())
            else:
                target = write_rendered(rendered, out_dir)
                print(f"{rendered.environment}: {len(rendered.manifests)} objects -> {target}")
    except RenderError as exc:
        print(f"shopfloor render: {exc}", file=sys.stderr)
        return 1
    return 0
