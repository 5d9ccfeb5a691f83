"""The CLI's base install, which is the tools image: the standard library only. `--help` and `smoke`
work there; every other command says it needs the `full` extra. Run here as a Python without
site-packages (`-I -S`) that sees only this package's source, which is what the image holds."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from shopfloor.repo import find_repo_root
from shopfloor_common.localserver import free_port

REPO = find_repo_root(Path(__file__).parent)
SOURCE = REPO / "tools" / "shopfloor" / "src"
# The console script, with nothing importable but the standard library and the shopfloor package.
BASE_INSTALL = [
    sys.executable,
    "-I",
    "-S",
    "-c",
    f"import sys; sys.path.insert(0, {str(SOURCE)!r}); sys.argv[0] = 'shopfloor'; "
    "from shopfloor.cli import main; main()",
]


def base_install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BASE_INSTALL, *args], capture_output=True, text=True, timeout=60, check=False, cwd=REPO)


def test_the_base_install_has_no_dependencies_so_the_tools_image_needs_no_lock() -> None:
    project = tomllib.loads((REPO / "tools" / "shopfloor" / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["dependencies"] == [], "the tools image installs no lock: keep `smoke` on the standard library"
    assert "full" in project["optional-dependencies"]


def test_help_lists_every_group_without_third_party_packages() -> None:
    result = base_install("--help")
    assert result.returncode == 0, result.stderr
    for group in ("local stack", "delivery", "measure", "docs"):
        assert f"\n{group}:\n" in result.stdout
    assert "smoke" in result.stdout


def test_smoke_runs_in_the_base_install() -> None:
    result = base_install("smoke", "--base-url", f"http://127.0.0.1:{free_port()}", "--timeout", "1")
    assert result.returncode == 1, result.stderr
    assert "FAIL product list: GET /api/products?limit=1: no answer" in result.stdout


def test_a_command_that_needs_the_full_extra_says_so() -> None:
    result = base_install("render", "--env", "dev")
    assert result.returncode == 2
    assert result.stderr.startswith("shopfloor render: needs ")
    assert "pip install 'shopfloor[full]'" in result.stderr
    assert "Traceback" not in result.stderr
