"""`make bench-startup`: how long `shopfloor run` takes, from launch to the banner (every service
ready, the edge open) and to the first 200 of GET /api/products through the edge, on a fresh state
folder and free ports. Give several checkouts to compare them side by side on the same machine
(runs alternate A, B, A, B, ...): `python bench/startup.py . ../other-checkout --rounds 5`.
Each checkout needs its own .venv (`make venv`)."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_start(repo: Path, timeout: float) -> tuple[float, float]:
    """(seconds to the first 200 of /api/products, seconds to the banner)."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k not in {"ADMIN_API_KEY", "REDIS_URL", "EDGE_PORT"}}
    with tempfile.TemporaryDirectory(prefix="shopfloor-startup-") as state:
        started = time.monotonic()
        process = subprocess.Popen(  # noqa: S603 (the checkout's own CLI)
            [
                str(repo / ".venv" / "bin" / "shopfloor"),
                "run",
                "--port",
                str(port),
                "--free-ports",
                "--state-dir",
                state,
            ],
            cwd=repo,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        banner = threading.Event()
        banner_at: list[float] = []

        def watch() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                if "Shopfloor is up" in line and not banner.is_set():
                    banner_at.append(time.monotonic() - started)
                    banner.set()

        threading.Thread(target=watch, daemon=True).start()
        first_answer = None
        try:
            while time.monotonic() - started < timeout and (first_answer is None or not banner.is_set()):
                if first_answer is None:
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/products", timeout=2) as reply:
                            if reply.status == 200:
                                first_answer = time.monotonic() - started
                    except (urllib.error.URLError, OSError):
                        pass
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
        if first_answer is None or not banner_at:
            raise SystemExit(f"{repo}: the shop was not up within {timeout:.0f}s")
        return first_answer, banner_at[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("checkouts", nargs="+", type=Path, help="repository checkouts to compare (default: .)")
    parser.add_argument("--rounds", type=int, default=3, help="starts per checkout (default 3)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one start may take")
    args = parser.parse_args()
    repos = [path.resolve() for path in args.checkouts]
    times: dict[Path, list[tuple[float, float]]] = {repo: [] for repo in repos}
    for round_number in range(1, args.rounds + 1):
        for repo in repos:
            times[repo].append(one_start(repo, args.timeout))
            first, up = times[repo][-1]
            print(
                f"round {round_number}/{args.rounds} {repo}: /api/products {first:.1f}s, banner {up:.1f}s", flush=True
            )
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| checkout | first /api/products (median) | banner: whole shop up (median) |\n|---|---:|---:|")
    for repo in repos:
        first = statistics.median(t[0] for t in times[repo])
        up = statistics.median(t[1] for t in times[repo])
        print(f"| {repo} | {first:.1f} s | {up:.1f} s |")
    sys.exit(0)


if __name__ == "__main__":
    main()
