"""The in-cluster PostgreSQL's init script against a real PostgreSQL: one database and one role per
service, each role alone on its database, and safe to run again (after adding a service or
rotating a password)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.charts.chartkit import REPO

SCRIPT = REPO / "charts" / "postgresql" / "files" / "init-databases.sh"


@pytest.fixture
def server(postgres_url: str, missing_dependency: Callable[[str, str], None]) -> dict[str, str]:
    """libpq settings of the test server's superuser (postgres_url proves it is reachable)."""
    if shutil.which("psql") is None:
        missing_dependency(
            "psql (PostgreSQL client)", "Install the PostgreSQL client tools (apt-get install postgresql-client)."
        )
    parts = urlsplit(postgres_url)
    settings = {
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": parts.username or "postgres",
    }
    if parts.password:
        settings["PGPASSWORD"] = parts.password
    return settings


def psql(
    server: dict[str, str], sql: str, *, user: str | None = None, database: str = "postgres"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **server}
    if user:
        env["PGUSER"] = user
    return subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "-At", "-d", database, "-c", sql],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@contextmanager
def throwaway_databases(server: dict[str, str]) -> Iterator[list[str]]:
    """Names for a catalog and an orders database and role of this test; dropped afterwards."""
    prefix = f"sf{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}_catalog", f"{prefix}_orders"]
    yield names
    for name in names:
        psql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        psql(server, f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def databases(server: dict[str, str]) -> Iterator[list[str]]:
    with throwaway_databases(server) as names:
        yield names


def run_script(server: dict[str, str], names: list[str], secrets: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **server,
        "SHOPFLOOR_DATABASES": " ".join(names),
        "SHOPFLOOR_SECRETS_DIR": str(secrets),
        "POSTGRES_USER": server["PGUSER"],
    }
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def test_each_service_gets_its_own_database_and_role(
    server: dict[str, str], databases: list[str], tmp_path: Path
) -> None:
    for name in databases:
        # A quote in a password must stay data, never SQL.
        (tmp_path / f"{name}-password").write_text(f"pa'ss-{name}")
    first = run_script(server, databases, tmp_path)
    assert first.returncode == 0, first.stderr
    again = run_script(server, databases, tmp_path)
    assert again.returncode == 0, again.stderr

    catalog, orders = databases
    # The names are this test's own (a random hex prefix), so formatting them into SQL is safe.
    names = f"('{catalog}', '{orders}')"
    owned = f"SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname IN {names} ORDER BY 1"  # noqa: S608
    owners = psql(server, owned)
    assert owners.stdout.split() == [f"{catalog}|{catalog}", f"{orders}|{orders}"]
    with_password = f"SELECT count(*) FROM pg_authid WHERE rolname IN {names} AND rolpassword IS NOT NULL"  # noqa: S608
    has_password = psql(server, with_password)
    assert has_password.stdout.strip() == "2"
    assert psql(server, "SELECT current_user", user=catalog, database=catalog).stdout.strip() == catalog
    crossing = psql(server, "SELECT 1", user=catalog, database=orders)
    assert crossing.returncode != 0
    assert "permission denied for database" in crossing.stderr


def test_a_missing_password_stops_the_script_naming_the_key(
    server: dict[str, str], databases: list[str], tmp_path: Path
) -> None:
    result = run_script(server, databases[:1], tmp_path)
    assert result.returncode == 1
    assert f"{databases[0]}-password" in result.stderr
