"""Measurement commands: `bench` (make bench), `check-consistency`, `screenshots`."""

from __future__ import annotations

import argparse
from pathlib import Path

from shopfloor.commands import CommandGroup, default_edge_port, repo_root, seconds

TITLE = "measure"


def register(group: CommandGroup) -> None:
    bench = group.add(
        "bench",
        help="k6 benchmarks on loopback (make bench); figures go to docs/performance.md",
        handler=_bench,
        description="Start catalog, orders and api-gateway on fresh PostgreSQL databases and measure, in one k6 "
        "run, the gateway's throughput as a ratio of catalog's own and the gateway's p99 at a fixed arrival rate; "
        "then, in a second run, checkouts per second through the gateway and the p99 of POST /api/orders.",
    )
    bench.add_argument(
        "--database-url",
        help="PostgreSQL server to create the bench databases on (default: "
        "$BENCH_DATABASE_URL, $TEST_DATABASE_URL, or postgres@127.0.0.1:5432)",
    )
    bench.add_argument("--vus", type=int, default=32, help="virtual users of the throughput scenarios (default 32)")
    bench.add_argument("--throughput-seconds", type=int, default=15, help="length of each throughput scenario")
    bench.add_argument("--rate", type=int, default=200, help="arrival rate of the latency scenario, req/s")
    bench.add_argument("--latency-seconds", type=int, default=20, help="length of the latency scenario")
    bench.add_argument("--checkout-vus", type=int, default=16, help="virtual users of the checkout scenario")
    bench.add_argument("--checkout-seconds", type=int, default=15, help="length of the checkout scenario")
    bench.add_argument(
        "--spread-skus", type=int, default=50, help="products of the spread-sku checkout scenario (default 50)"
    )
    bench.add_argument("--pgbench-seconds", type=int, default=10, help="length of the pgbench hot-row run")
    bench.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy flame graphs of the three services during the hot checkout run into DIR (implies --no-docs: "
        "a profiled run's figures are not the bench's)",
    )
    bench.add_argument(
        "--services-from",
        type=Path,
        metavar="CHECKOUT",
        help="run the services from another checkout's .venv (e.g. a `git worktree` of main) with this bench: "
        "before/after figures from the same harness; implies --no-docs",
    )
    bench.add_argument("--no-docs", action="store_true", help="do not write docs/performance.md")
    bench.add_argument(
        "--compare-clients", action="store_true", help="also compare aiohttp and httpx forwarding (a small extra run)"
    )

    load = group.add(
        "load",
        help="the k6 suite: smoke, load, stress (finds the knee), spike, soak against the local stack or --url",
        handler=_load,
        description="Run bench/scenarios/SCENARIO.js with thresholds from observability/generated/k6-thresholds.json, "
        "against a local stack started for the run (default) or a base URL; writes the summary, the points and a PNG "
        "of latency and throughput over time to --out. Exit 0 thresholds met, 1 missed, 2 could not run.",
    )
    load.add_argument("scenario", choices=["smoke", "load", "stress", "spike", "soak"])
    load.add_argument("--url", help="the shop's base URL (default: a local stack started for the run)")
    load.add_argument(
        "--allow-remote", action="store_true", help="allow a --url outside 127.0.0.0/8 (a shop that is yours to load)"
    )
    load.add_argument("--out", type=Path, help="folder for the summary, points and chart (default var/load)")
    load.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="a scenario variable (RATE, DURATION, MAX...)"
    )
    load.add_argument(
        "--render-testrun",
        metavar="URL",
        help="print the scenario as a k6 operator TestRun and its ConfigMap targeting URL (in-cluster), do not run",
    )

    consistency = group.add(
        "check-consistency",
        help="check that stock and orders add up, through the HTTP APIs (chaos experiments call it)",
        handler=_check_consistency,
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
        type=seconds,
        default=60.0,
        metavar="SECONDS",
        help="longest an order may stay PENDING (default 60)",
    )
    consistency.add_argument(
        "--acknowledged", type=Path, metavar="FILE", help="order ids clients were told about, one a line"
    )
    consistency.add_argument(
        "--settle",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="while inconsistent (or, for --snapshot, while orders are PENDING), look again every second this long",
    )
    consistency.add_argument("--json", action="store_true", help="print the report as JSON")

    screenshots = group.add(
        "screenshots",
        help="screenshots of the main pages in Chromium (make screenshots)",
        handler=_screenshots,
        description="Start the shop on free ports in a scratch folder, click one purchase through in Chromium and "
        "save catalog, product, cart, order and admin as PNG files.",
    )
    screenshots.add_argument("--out", type=Path, help="folder for the PNG files (default: <repo>/docs/screenshots)")
    screenshots.add_argument("--chromium", help="the browser binary (default: $CHROMIUM_PATH or /usr/bin/chromium)")


def _bench(args: argparse.Namespace) -> int:
    from shopfloor.measure.bench import BenchOptions, run_bench

    options = BenchOptions(
        repo=repo_root(args),
        database_url=args.database_url,
        vus=args.vus,
        throughput_seconds=args.throughput_seconds,
        rate=args.rate,
        latency_seconds=args.latency_seconds,
        write_docs=not args.no_docs and args.profile is None and args.services_from is None,
        compare_clients=args.compare_clients,
        checkout_vus=args.checkout_vus,
        checkout_seconds=args.checkout_seconds,
        spread_skus=args.spread_skus,
        pgbench_seconds=args.pgbench_seconds,
        profile_dir=args.profile,
        services_bin=args.services_from / ".venv" / "bin" if args.services_from else None,
    )
    return run_bench(options)


def _load(args: argparse.Namespace) -> int:
    from shopfloor.measure.load import LoadOptions, run_load

    variables = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            print(f"shopfloor load: --env {item!r}: give NAME=VALUE")
            return 2
        variables[name] = value
    options = LoadOptions(
        repo=repo_root(args),
        scenario=args.scenario,
        url=args.url,
        allow_remote=args.allow_remote,
        out_dir=args.out,
        variables=variables,
    )
    return run_load(options, render_testrun_url=args.render_testrun)


def _check_consistency(args: argparse.Namespace) -> int:
    from shopfloor.measure.check_consistency import run_check_consistency

    return run_check_consistency(args, default_edge_port=default_edge_port)


def _screenshots(args: argparse.Namespace) -> int:
    from shopfloor.measure.screenshots import run_screenshots

    repo = repo_root(args)
    return run_screenshots(repo, args.out or repo / "docs" / "screenshots", args.chromium)
