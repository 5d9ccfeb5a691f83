"""Real service processes for the cross-service suites, started the way `shopfloor run` starts them.

Services run from the repo's console scripts on free loopback ports, each on a copy of one catalog
database migrated and seeded once per session (so a test pays for `serve`, not for three Python
starts), and orders on a copy of one migrated (unseeded) orders database, in the test's own
temporary folder. Every process started here is stopped at teardown, and dies with the test run
if that is killed (see shopfloor.local.processes).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import pytest

from shopfloor.local.discovery import ServiceSpec, discover_services
from shopfloor.local.processes import ManagedProcess, run_to_completion, wait_ready
from shopfloor.local.stack import service_environment, service_executable
from shopfloor.repo import find_repo_root
from shopfloor_common.localserver import free_port

REPO = find_repo_root(Path(__file__).parent)
ADMIN_KEY = "e2e-admin-key-" + secrets.token_hex(8)
# Settings of the developer's shell that would point the services elsewhere.
FOREIGN_VARIABLES = {"REDIS_URL", "DATABASE_URL", "ADMIN_API_KEY", "S3_BUCKET", "IMAGE_DIR", "LOG_LEVEL", "ACCESS_LOG"}


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in FOREIGN_VARIABLES and not k.endswith("_URL")}


class Lines:
    """Every output line of the processes it is given to, by process name."""

    def __init__(self) -> None:
        self.by_name: dict[str, list[str]] = {}

    def __call__(self, name: str, line: str) -> None:
        self.by_name.setdefault(name, []).append(line)

    def text(self, name: str) -> str:
        return "\n".join(self.by_name.get(name, []))


@dataclass
class RunningService:
    spec: ServiceSpec
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.spec.port}"


class StartService(Protocol):
    def __call__(
        self, name: str, *, env: dict[str, str] | None = None, port: int | None = None
    ) -> Awaitable[RunningService]: ...


def _specs() -> dict[str, ServiceSpec]:
    return {spec.name: spec for spec in discover_services(REPO)}


@pytest.fixture(scope="session")
def seeded_catalog_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One catalog SQLite database, migrated and seeded, for tests to copy."""
    folder = tmp_path_factory.mktemp("catalog-template")
    database = folder / "catalog.db"
    spec = _specs()["catalog"]
    env = service_environment(spec, [spec], state_dir=folder, admin_key=ADMIN_KEY, base=clean_environment())
    executable = str(service_executable("catalog"))

    async def prepare() -> None:
        for step in ("migrate", "seed"):
            process = ManagedProcess("catalog", [executable, step], env=env, cwd=folder)
            code = await run_to_completion(process, 120)
            assert code == 0, f"catalog {step} failed ({code}):\n{process.tail_text()}"

    asyncio.run(prepare())
    assert database.exists()
    return database


@pytest.fixture
def catalog_database_url(seeded_catalog_database: Path, tmp_path: Path) -> str:
    copy = tmp_path / "catalog.db"
    shutil.copyfile(seeded_catalog_database, copy)
    return f"sqlite+aiosqlite:///{copy}"


class MigratedOrdersDatabase:
    """One migrated orders SQLite database per session, made the first time a test starts orders
    (so suites that never start orders never pay for it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._template: Path | None = None

    async def copy_to(self, destination: Path) -> None:
        if self._template is None:
            spec = _specs()["orders"]
            env = service_environment(
                spec, [spec], state_dir=self.folder, admin_key=ADMIN_KEY, base=clean_environment()
            )
            process = ManagedProcess("orders", [str(service_executable("orders")), "migrate"], env=env, cwd=self.folder)
            code = await run_to_completion(process, 120)
            assert code == 0, f"orders migrate failed ({code}):\n{process.tail_text()}"
            self._template = self.folder / "orders.db"
        shutil.copyfile(self._template, destination)


@pytest.fixture(scope="session")
def migrated_orders_database(tmp_path_factory: pytest.TempPathFactory) -> MigratedOrdersDatabase:
    return MigratedOrdersDatabase(tmp_path_factory.mktemp("orders-template"))


@pytest.fixture
def service_lines() -> Lines:
    return Lines()


@pytest.fixture
async def start_service(
    tmp_path: Path, catalog_database_url: str, migrated_orders_database: MigratedOrdersDatabase, service_lines: Lines
) -> AsyncIterator[StartService]:
    """Start `<service> serve` on a free port and wait until /readyz answers 200.

    CATALOG_URL and friends point at the ports of services already started by this fixture, so
    start catalog before api-gateway. `port=` restarts a service on the port it had (orders keeps
    its database across a restart: it is copied in only at the first start)."""
    specs = _specs()
    started: list[RunningService] = []
    ports: dict[str, int] = {}

    async def start(name: str, *, env: dict[str, str] | None = None, port: int | None = None) -> RunningService:
        spec = replace(specs[name], port=port or free_port())
        ports[name] = spec.port
        known = [replace(s, port=ports.get(s.name, s.port)) for s in specs.values()]
        environment = service_environment(
            spec, known, state_dir=tmp_path, admin_key=ADMIN_KEY, base=clean_environment()
        )
        environment.update({"ENVIRONMENT": "test", "LOG_LEVEL": "WARNING", "ACCESS_LOG": "false"})
        if name == "catalog":
            environment["DATABASE_URL"] = catalog_database_url
            environment["IMAGE_DIR"] = str(tmp_path / "images")
        if name == "orders" and not (tmp_path / "orders.db").exists():
            await migrated_orders_database.copy_to(tmp_path / "orders.db")  # where DATABASE_URL points
        environment.update(env or {})
        process = ManagedProcess(
            name, [str(service_executable(name)), "serve"], env=environment, cwd=tmp_path, sink=service_lines
        )
        service = RunningService(spec, process)
        started.append(service)
        await process.start()
        # With MANAGEMENT_PORT, /readyz is served there only (shopfloor_common.server).
        management = environment.get("MANAGEMENT_PORT")
        ready_url = f"http://127.0.0.1:{management}/readyz" if management else f"{service.url}/readyz"
        await wait_ready(process, ready_url, timeout_seconds=30)
        return service

    yield start
    await asyncio.gather(*(service.process.stop(timeout_seconds=5) for service in started))


@pytest.fixture(scope="session")
def missing_dependency(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """The root conftest's missing_dependency (skip locally, fail under CI=true). Taken from the
    loaded plugin: in importlib mode the root conftest is not importable by name."""
    root_conftest = str(REPO / "conftest.py")
    for plugin in request.config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) == root_conftest:
            helper: Callable[[str, str], None] = plugin.missing_dependency
            return helper
    raise AssertionError(f"{root_conftest} is not loaded")


def required_binary(missing_dependency: Callable[[str, str], None], what: str, hint: str, *paths: str | None) -> str:
    """The first of `paths` given (an environment override) or found on PATH; else `what` is a
    missing dependency, with `hint` saying how to install it."""
    for candidate in paths:
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    missing_dependency(what, hint)
    raise AssertionError(f"{what} is missing")  # missing_dependency skips or fails; never reached


PROMTOOL_HINT = (
    "Install Prometheus's promtool: `sudo apt-get install --no-install-recommends prometheus` on Debian or "
    "Ubuntu (.ci/run does), or put promtool from a Prometheus release on PATH."
)
ALERTMANAGER_HINT = "Install Alertmanager: apt-get install --no-install-recommends prometheus-alertmanager."
PROMETHEUS_HINT = (
    "Install Debian's Prometheus and Alertmanager: "
    "apt-get install --no-install-recommends prometheus prometheus-alertmanager."
)


@pytest.fixture
def redis_server_path(missing_dependency: Callable[[str, str], None]) -> str:
    return required_binary(
        missing_dependency,
        "redis-server",
        "Install Redis 7 (apt-get install redis-server) so the e2e suite can start one.",
        "redis-server",
    )


@pytest.fixture(scope="session")
def promtool_binary(missing_dependency: Callable[[str, str], None]) -> str:
    """promtool: $PROMTOOL, else the one on PATH."""
    return required_binary(missing_dependency, "promtool", PROMTOOL_HINT, os.environ.get("PROMTOOL"), "promtool")


@pytest.fixture(scope="session")
def amtool(missing_dependency: Callable[[str, str], None]) -> str:
    return required_binary(missing_dependency, "amtool", ALERTMANAGER_HINT, "amtool")


@pytest.fixture(scope="session")
def alertmanager_binary(missing_dependency: Callable[[str, str], None]) -> str:
    """Debian names it prometheus-alertmanager, a release tarball alertmanager."""
    return required_binary(
        missing_dependency, "Alertmanager", ALERTMANAGER_HINT, "prometheus-alertmanager", "alertmanager"
    )


@pytest.fixture(scope="session")
def prometheus_and_alertmanager(missing_dependency: Callable[[str, str], None]) -> None:
    """What `shopfloor run --observe` (and so the observed and chaos stacks) starts: Debian's binaries."""
    for binary in ("prometheus", "prometheus-alertmanager"):
        required_binary(missing_dependency, binary, PROMETHEUS_HINT, binary)
