"""checkov as the test suites run it: from its own virtualenv (its pins clash with the repo's),
never downloading anything, JSON out. One place for the command line the chart, Terraform,
workflow and Dockerfile tests share."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
INSTALL_HINT = "Build its virtualenv: make .venv-checkov/.installed (make test does)."


def checkov_command(framework: str, *targets: str) -> list[str]:
    """Not --quiet: the tests look at skipped checks too."""
    return [str(CHECKOV), *targets, "--framework", framework, "--skip-download", "--output", "json", "--compact"]


def run_checkov(framework: str, target: Path, timeout: float = 240) -> list[dict[str, Any]]:
    """checkov's reports (one per framework) over `target`, a folder or one file."""
    completed = subprocess.run(
        checkov_command(framework, "--file" if target.is_file() else "--directory", str(target)),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    report = json.loads(completed.stdout)
    return report if isinstance(report, list) else [report]
