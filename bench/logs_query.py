"""How fast `shopfloor logs` answers on 100,000 log lines, against the same questions asked with
grep and jq, measured side by side in one run (docs/performance.md, "Log queries").

    .venv/bin/python bench/logs_query.py [--lines 100000] [--rounds 3]

The lines are written through the stack's own writer (shopfloor.local.logfiles.LogFiles) into a
temporary folder: four services' access lines of requests that cross gateway -> orders -> catalog,
some 4xx/5xx, errors with tracebacks and a few plain lines, as `make run` leaves them. Each
question is timed as a person runs it (a new process, Python start-up included), best of
`--rounds`, the tools taking turns so they see the same machine state.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from shopfloor.local.logfiles import LogFiles

SERVICES = ("api-gateway", "orders", "catalog", "frontend")
SHOPFLOOR = [sys.executable, "-c", "from shopfloor.cli import main; main()", "logs"]


def generate(folder: Path, lines: int) -> str:
    """Write about `lines` lines; returns a request id that crossed three services."""
    rng = random.Random(13)  # noqa: S311 - repeatable test data
    files = LogFiles(folder, max_bytes=1 << 30)
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    written = 0
    request = 0
    traced = ""
    while written < lines:
        request += 1
        request_id = f"{request:032x}"
        at = start + timedelta(milliseconds=request * 7)
        kind = rng.random()
        status = 500 if kind < 0.01 else 404 if kind < 0.05 else 200
        hops = ["catalog", "api-gateway"] if kind < 0.7 else ["catalog", "catalog", "orders", "api-gateway"]
        if kind >= 0.95:
            hops = ["frontend"]
        for depth, service in enumerate(hops):
            record = {
                "level": "ERROR" if status >= 500 else "INFO",
                "logger": "shopfloor.access",
                "message": f"GET /products/SKU-{request % 400} {status}",
                "method": "GET",
                "path": f"/products/SKU-{request % 400}",
                "route": "/products/{sku}",
                "status": status,
                "duration_ms": round(rng.uniform(0.5, 40.0), 2),
                "service": service,
                "request_id": request_id,
                "time": (at + timedelta(microseconds=depth * 900)).isoformat(),
            }
            files(service, orjson.dumps(record).decode())
            written += 1
        if status >= 500:
            failure = {
                "level": "ERROR",
                "logger": "shopfloor.errors",
                "message": "unhandled error on GET /products",
                "exc_info": 'Traceback (most recent call last):\n  File "db.py", line 9\nTimeoutError: pool exhausted',
                "service": "catalog",
                "request_id": request_id,
                "time": at.isoformat(),
            }
            files("catalog", orjson.dumps(failure).decode())
            written += 1
        if request % 5000 == 0:
            files("orders", "a plain line from a library")
            written += 1
        if len(hops) == 4 and not traced and request > 1000:
            traced = request_id
    files.close()
    return traced


def best_of(rounds: int, commands: dict[str, list[str] | str]) -> dict[str, float]:
    """Seconds per command (best of `rounds`), the commands taking turns."""
    best = dict.fromkeys(commands, float("inf"))
    for _ in range(rounds):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, shell=isinstance(command, str), check=True, capture_output=True)  # noqa: S603
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("jq") is None:
        print("jq is not installed (apt-get install jq): it is what the figures compare with", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="shopfloor-logs-bench-") as scratch:
        folder = Path(scratch)
        started = time.perf_counter()
        request_id = generate(folder, args.lines)
        written = time.perf_counter() - started
        total = sum(1 for path in folder.glob("*.jsonl") for _ in path.open("rb"))
        size = sum(path.stat().st_size for path in folder.glob("*.jsonl"))
        files = " ".join(str(path) for path in sorted(folder.glob("*.jsonl")))
        tiny = folder / "tiny"
        tiny.mkdir()
        (tiny / "catalog.jsonl").write_bytes(next((folder / "catalog.jsonl").open("rb")))
        questions = {
            "start-up alone (a folder of one line)": (
                [*SHOPFLOOR, "--dir", str(tiny), "--json"],
                f"jq -c . {tiny / 'catalog.jsonl'}",
            ),
            "one request across services, in time order": (
                [*SHOPFLOOR, "--dir", scratch, "--request-id", request_id, "--json"],
                f"grep -h -F {request_id} {files} | jq -c 'select(.request_id == \"{request_id}\")' "
                "| jq -s -c 'sort_by(.time)[]'",
            ),
            "errors and above, newest 100": (
                [*SHOPFLOOR, "--dir", scratch, "--level", "error", "--json"],
                f'jq -c \'select(.level == "ERROR" or .level == "CRITICAL")\' {files} '
                "| jq -s -c 'sort_by(.time)[-100:][]'",
            ),
            "counts by service, level and status": (
                [*SHOPFLOOR, "--dir", scratch, "--stats"],
                f"jq -r '[.service, .level, (.status // \"\")] | @tsv' {files} | sort | uniq -c",
            ),
        }
        count = len(list(folder.glob("*.jsonl")))
        print(f"{total:,} lines ({size / 1e6:.1f} MB) in {count} files, written in {written:.2f}s")
        print(f"machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
        print("| question | `shopfloor logs` | grep / jq | ratio jq / shopfloor |")
        print("|---|---:|---:|---:|")
        for question, (ours, theirs) in questions.items():
            times = best_of(args.rounds, {"shopfloor": ours, "jq": theirs})
            ratio = times["jq"] / times["shopfloor"]
            print(f"| {question} | {times['shopfloor']:.2f} s | {times['jq']:.2f} s | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
