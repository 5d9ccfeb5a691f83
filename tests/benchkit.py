"""Running a bench/ script the way `make bench-*` does, for the tests that check it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_bench_script(script: str, *args: str, timeout_seconds: float = 120) -> subprocess.CompletedProcess[str]:
    """`python bench/<script> <args>` with this interpreter; output captured, never raising on exit."""
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )
