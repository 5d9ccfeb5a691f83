"""`shopfloor load SCENARIO`: the k6 suite of bench/scenarios/ (smoke, load, stress, spike, soak).

Against the local stack by default (catalog, orders and api-gateway on free loopback ports, SQLite,
seeded with the demo products and their pictures) or any base URL (`--url`; a host outside
127.0.0.0/8 needs `--allow-remote`). Thresholds come from observability/generated/k6-thresholds.json,
generated from the SLO source. Every run writes, into --out (var/load/ by default), the k6 summary,
its per-request points and a PNG of latency (p50, p99) and throughput per second; the stress
scenario also reports its knee: the arrival rate of the first step whose p99 crosses the SLO.
Durations are bounded: each scenario has a ceiling that --env cannot lift.
`--render-testrun` prints the same scenario as a k6 operator TestRun (with its ConfigMap) instead.
"""

from __future__ import annotations

import asyncio
import csv
import ipaddress
import os
import re
import secrets
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import yaml
from PIL import Image, ImageDraw

from shopfloor.local.console import Console
from shopfloor.local.processes import ManagedProcess, run_to_completion
from shopfloor.local.stack import LocalStack, StackError, StackOptions
from shopfloor.measure.bench import K6_THRESHOLDS_FAILED, BenchError, k6_executable

SCENARIOS = ("smoke", "load", "stress", "spike", "soak")
# The longest each scenario may run, whatever its variables say (k6 is stopped after it).
MAX_SECONDS = {"smoke": 30, "load": 1800, "stress": 1800, "spike": 600, "soak": 7200}
THRESHOLDS = Path("observability/generated/k6-thresholds.json")
KNEE_JOURNEY = "product-page"


class LoadError(Exception):
    """The scenario could not run; the message says why."""


@dataclass
class LoadOptions:
    repo: Path
    scenario: str
    url: str | None = None
    allow_remote: bool = False
    out_dir: Path | None = None
    variables: dict[str, str] = field(default_factory=dict)


def check_url(url: str, allow_remote: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoadError(f"--url {url!r}: give an http(s) base URL, e.g. http://127.0.0.1:8000")
    if not allow_remote:
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
        if not loopback:
            raise LoadError(
                f"--url {url!r}: {parts.hostname} is not a loopback address; load traffic goes to 127.0.0.0/8 "
                "unless --allow-remote says the target is yours to load"
            )
    return url.rstrip("/")


def slo_p99_ms(repo: Path, journey: str = KNEE_JOURNEY) -> float:
    document = orjson.loads((repo / THRESHOLDS).read_bytes())
    for rule in document["thresholds"].get(f"http_req_duration{{journey:{journey}}}", []):
        match = re.fullmatch(r"p\(99\)<([0-9.]+)", rule)
        if match:
            return float(match.group(1))
    raise LoadError(f"{THRESHOLDS} has no p(99) threshold for the journey {journey!r}")


# --- what k6 measured, per second ------------------------------------------------------------------


@dataclass
class Second:
    at: int
    requests: int
    p50_ms: float
    p99_ms: float
    iterations: int


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def per_second(points_csv: Path, journey: str | None = None) -> list[Second]:
    """k6's CSV output (one row per sample) as one row per second of the run: every request's
    count, and the latency percentiles of `journey`'s requests (all requests when None), so a
    journey is compared with its own SLO. setup()'s requests are left out."""
    durations: dict[int, list[float]] = defaultdict(list)
    requests: dict[int, int] = defaultdict(int)
    iterations: dict[int, int] = defaultdict(int)
    with points_csv.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("group", "").startswith("::setup"):
                continue
            second = int(float(row["timestamp"]))
            if row["metric_name"] == "http_req_duration":
                requests[second] += 1
                tags = row.get("extra_tags") or ""
                if journey is None or f"journey={journey}" in tags.split("&"):
                    durations[second].append(float(row["metric_value"]))
            elif row["metric_name"] == "iterations":
                iterations[second] += 1
    seconds = sorted(set(requests) | set(iterations))
    if not seconds:
        return []
    start = seconds[0]
    return [
        Second(
            at=s - start,
            requests=requests.get(s, 0),
            p50_ms=_percentile(durations.get(s, []), 0.5),
            p99_ms=_percentile(durations.get(s, []), 0.99),
            iterations=iterations.get(s, 0),
        )
        for s in range(start, seconds[-1] + 1)
    ]


def find_knee(seconds: list[Second], slo_ms: float, window: int = 5) -> Second | None:
    """The first `window`-second stretch whose p99 crosses the SLO, as the Second that starts it
    (its `iterations` figure is the arrival rate k6 was holding there), or None if none does."""
    for start in range(0, max(0, len(seconds) - window + 1)):
        stretch = seconds[start : start + window]
        samples = [s.p99_ms for s in stretch if s.requests]
        if samples and _percentile(samples, 0.5) > slo_ms:
            rate = sum(s.iterations for s in stretch) / window
            return Second(stretch[0].at, sum(s.requests for s in stretch) // window, 0.0, max(samples), round(rate))
    return None


def draw_chart(seconds: list[Second], title: str, slo_ms: float, path: Path) -> None:
    """Two panels over time: p50/p99 latency (with the SLO line) and requests per second."""
    width, height, margin = 1000, 560, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin, 10), title, fill="black")
    panel_h = (height - 3 * margin) // 2
    span = max(1, len(seconds) - 1)

    def panel(top: int, series: list[tuple[list[float], str]], label: str, line: float | None) -> None:
        ceiling = max([max(values, default=0.0) for values, _ in series] + [line or 0.0, 1.0]) * 1.1
        draw.rectangle([margin, top, width - margin, top + panel_h], outline="gray")
        draw.text((margin, top - 14), f"{label} (max {ceiling / 1.1:,.1f})", fill="black")

        def y(value: float) -> float:
            return top + panel_h - value / ceiling * panel_h

        if line is not None:
            draw.line([(margin, y(line)), (width - margin, y(line))], fill="red")
            draw.text((width - margin - 90, y(line) - 12), f"SLO {line:g} ms", fill="red")
        for values, colour in series:
            xy = [(margin + i / span * (width - 2 * margin), y(v)) for i, v in enumerate(values)]
            if len(xy) > 1:
                draw.line(xy, fill=colour, width=2)

    panel(
        margin + 10,
        [([s.p50_ms for s in seconds], "steelblue"), ([s.p99_ms for s in seconds], "darkorange")],
        f"{KNEE_JOURNEY} latency ms: p50 blue, p99 orange",
        slo_ms,
    )
    panel(2 * margin + panel_h, [([float(s.requests) for s in seconds], "seagreen")], "requests/s", None)
    draw.text((margin, height - 20), f"seconds 0 .. {len(seconds) - 1}", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")


# --- in-cluster ------------------------------------------------------------------------------------


def render_testrun(repo: Path, scenario: str, url: str, namespace: str = "shopfloor") -> list[dict[str, Any]]:
    """A ConfigMap with the scenario, lib.js and the thresholds, and the k6 operator TestRun that runs
    them in the cluster (one runner; the operator mounts the ConfigMap at /test)."""
    folder = repo / "bench" / "scenarios"
    name = f"shopfloor-load-{scenario}"
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "shopfloor"}},
        "data": {
            f"{scenario}.js": (folder / f"{scenario}.js").read_text(encoding="utf-8"),
            "lib.js": (folder / "lib.js").read_text(encoding="utf-8"),
            "k6-thresholds.json": (repo / THRESHOLDS).read_text(encoding="utf-8"),
        },
    }
    test_run = {
        "apiVersion": "k6.io/v1alpha1",
        "kind": "TestRun",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "shopfloor"}},
        "spec": {
            "parallelism": 1,
            "script": {"configMap": {"name": name, "file": f"{scenario}.js"}},
            "arguments": f"-e BASE_URL={url} -e THRESHOLDS_FILE=/test/k6-thresholds.json --no-usage-report",
            "runner": {
                "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            },
        },
    }
    return [config_map, test_run]


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    exit_code: int
    summary: dict[str, Any]
    chart: Path
    knee: Second | None


class LoadRun:
    def __init__(self, options: LoadOptions, console: Console) -> None:
        self.options = options
        self.console = console

    async def run(self) -> LoadResult:
        options = self.options
        k6 = k6_executable()
        slo = slo_p99_ms(options.repo)
        if options.url:
            return await self._k6(k6, check_url(options.url, options.allow_remote), slo)
        with tempfile.TemporaryDirectory(prefix="shopfloor-load-") as state:
            stack = LocalStack(
                StackOptions(
                    repo=options.repo,
                    state_dir=Path(state),
                    only=("catalog", "orders", "api-gateway"),
                    free_ports=True,
                    edge_port=None,
                    environ={k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")},
                    extra_env={"ACCESS_LOG": "false", "LOG_LEVEL": "WARNING", "RATE_LIMIT": "off"},
                    admin_key=secrets.token_urlsafe(24),
                    skip_seed=("orders",),
                ),
                sink=self.console.service_line,
            )
            self.console.info("starting catalog, orders and api-gateway on loopback (SQLite, demo products)")
            try:
                await stack.start()
                return await self._k6(k6, stack.url("api-gateway"), slo)
            finally:
                await stack.stop()

    async def _k6(self, k6: Path, url: str, slo: float) -> LoadResult:
        options = self.options
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = options.out_dir or options.repo / "var" / "load"
        out.mkdir(parents=True, exist_ok=True)
        export = out / f"{options.scenario}-{stamp}.summary.json"
        points = out / f"{options.scenario}-{stamp}.points.csv"
        limit = MAX_SECONDS[options.scenario]
        argv = [
            str(k6),
            "run",
            "--no-usage-report",
            "--quiet",
            "--summary-export",
            str(export),
            "--out",
            f"csv={points}",
            "-e",
            f"BASE_URL={url}",
            "-e",
            f"THRESHOLDS_FILE={options.repo / THRESHOLDS}",
        ]
        for name, value in options.variables.items():
            argv += ["-e", f"{name}={value}"]
        argv.append(str(options.repo / "bench" / "scenarios" / f"{options.scenario}.js"))
        self.console.info(f"k6: {options.scenario} against {url} (at most {limit}s)")
        process = ManagedProcess(
            "k6",
            argv,
            env={**os.environ, "K6_NO_USAGE_REPORT": "true"},
            cwd=options.repo,
            sink=self.console.service_line,
            tail_lines=80,
        )
        code = await run_to_completion(process, limit + 60)
        if code not in (0, K6_THRESHOLDS_FAILED) or not export.exists():
            raise LoadError(f"k6 failed with exit code {code}:\n{process.tail_text(40)}")
        seconds = per_second(points, KNEE_JOURNEY) if points.exists() else []
        chart = out / f"{options.scenario}-{stamp}.png"
        title = f"shopfloor load {options.scenario} against {url} ({stamp}); latency of the {KNEE_JOURNEY} journey"
        draw_chart(seconds, title, slo, chart)
        knee = find_knee(seconds, slo) if options.scenario == "stress" else None
        summary: dict[str, Any] = orjson.loads(export.read_bytes())
        if knee is not None:
            summary["knee"] = {"second": knee.at, "arrival_rate": knee.iterations, "p99_ms": knee.p99_ms}
            export.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
        return LoadResult(code, summary, chart, knee)


def run_load(options: LoadOptions, console: Console | None = None, render_testrun_url: str | None = None) -> int:
    console = console or Console(["catalog", "orders", "api-gateway", "k6", "load"])
    if options.scenario not in SCENARIOS:
        console.error(f"unknown scenario {options.scenario!r}; choose one of {', '.join(SCENARIOS)}")
        return 2
    if render_testrun_url is not None:
        print(yaml.safe_dump_all(render_testrun(options.repo, options.scenario, render_testrun_url), sort_keys=False))
        return 0
    try:
        result = asyncio.run(LoadRun(options, console).run())
    except (LoadError, BenchError, StackError) as exc:
        console.error(str(exc))
        return 2
    metrics = result.summary.get("metrics", {})
    duration = metrics.get("http_req_duration", {})
    requests = metrics.get("http_reqs", {})
    failed = metrics.get("http_req_failed", {})
    lines = [
        f"{options.scenario}: {int(requests.get('count', 0)):,} requests, "
        f"p99 {float(duration.get('p(99)', 0)):.1f} ms, "
        f"{float(failed.get('value', 0)):.2%} failed; thresholds {'met' if result.exit_code == 0 else 'MISSED'}",
        f"chart: {result.chart}",
    ]
    if options.scenario == "stress":
        lines.append(
            f"knee: p99 crossed the SLO at about {result.knee.iterations} shoppers/s ({result.knee.at}s into the run)"
            if result.knee
            else "knee: p99 stayed within the SLO at every step (raise MAX)"
        )
    console.info("\n".join(lines))
    return 0 if result.exit_code == 0 else 1
