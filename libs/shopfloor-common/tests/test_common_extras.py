"""The shared library's extras: each optional module names its extra when that extra is not installed,
and the base install alone imports and serves a service that asks for no extra (the frontend).

"Not installed" is made real in a child interpreter: an import hook in front of every other one
answers ModuleNotFoundError for the extra's packages, exactly what a venv without them answers.
Which packages an extra holds is read from the library's own metadata (its pyproject.toml).
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import time

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from shopfloor_common.localserver import free_port

OPTIONAL_MODULES = {"db": "shopfloor_common.db", "cache": "shopfloor_common.cache", "client": "shopfloor_common.client"}

NOT_INSTALLED = """
import importlib.abc, sys
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
"""


def extras() -> dict[str, set[str]]:
    """Each extra of shopfloor-common and the top-level modules its packages provide."""
    provided_by: dict[str, set[str]] = {}
    for module, distributions in importlib.metadata.packages_distributions().items():
        for distribution in distributions:
            provided_by.setdefault(canonicalize_name(distribution), set()).add(module)
    found: dict[str, set[str]] = {}
    for line in importlib.metadata.requires("shopfloor-common") or []:
        requirement = Requirement(line)
        for extra in OPTIONAL_MODULES:
            if requirement.marker and requirement.marker.evaluate({"extra": extra}):
                found.setdefault(extra, set()).update(provided_by[canonicalize_name(requirement.name)])
    return found


def child(blocked: set[str], code: str) -> list[str]:
    """A Python command line that runs `code` with the `blocked` modules not installed."""
    return [sys.executable, "-c", NOT_INSTALLED.format(blocked=sorted(blocked)) + code]


def without(blocked: set[str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(child(blocked, code), capture_output=True, text=True, timeout=60, check=False)


def test_every_extra_has_its_module_and_its_packages() -> None:
    found = extras()
    assert set(found) == set(OPTIONAL_MODULES)
    assert {"sqlalchemy", "asyncpg", "aiosqlite", "alembic"} <= found["db"]
    assert {"redis", "cachetools"} <= found["cache"]
    assert "aiohttp" in found["client"]


@pytest.mark.parametrize("extra", sorted(OPTIONAL_MODULES))
def test_an_optional_module_without_its_extra_names_the_extra(extra: str) -> None:
    module = OPTIONAL_MODULES[extra]
    result = without(extras()[extra], f"import {module}")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("shopfloor_common.extras.MissingExtra: "), result.stderr
    assert f"{module} needs shopfloor-common's `{extra}` extra" in last
    assert f"shopfloor-common[{extra}]" in last
    # With the extra present the same import works: the hook, not the module, made the failure.
    assert without(set(), f"import {module}").returncode == 0


def test_the_base_install_serves_a_service_that_asks_for_no_extra() -> None:
    """The frontend with none of the db, cache or client packages importable, as in its image."""
    blocked = set().union(*extras().values())
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "ACCESS_LOG": "false"}
    serve = "from frontend.__main__ import main\nsys.argv = ['frontend', 'serve']\nmain()"
    process = subprocess.Popen(
        child(blocked, serve), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        status = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code
            except httpx.TransportError:
                time.sleep(0.1)
        assert status == 200, process.stdout.read() if process.poll() is not None and process.stdout else status
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
    finally:
        process.terminate()
        process.wait(timeout=30)
