"""The managed PostgreSQL's bootstrap script (charts/postgresql/files/bootstrap-databases.sh, run by
the bootstrap Job on RDS) against the real PostgreSQL on 127.0.0.1, run as a master user that is
not a superuser (CREATEROLE and CREATEDB only, as RDS's is): one database and one least-privilege
role per service, a second run changes nothing, a service role cannot reach another's database."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.charts.chartkit import REPO
from tests.charts.test_chart_postgresql_init import psql, server, throwaway_databases

__all__ = ["server"]

SCRIPT = REPO / "charts" / "postgresql" / "files" / "bootstrap-databases.sh"


@pytest.fixture
def master(server: dict[str, str]) -> Iterator[str]:
    """A stand-in for RDS's master user: it may create roles and databases, nothing more."""
    name = f"sfmaster{uuid.uuid4().hex[:8]}"
    created = psql(server, f'CREATE ROLE "{name}" LOGIN CREATEROLE CREATEDB')
    assert created.returncode == 0, created.stderr
    yield name
    psql(server, f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def services(server: dict[str, str], master: str) -> Iterator[list[str]]:
    # Depends on master, so its databases are dropped before the role that created them.
    with throwaway_databases(server) as names:
        yield names


def bootstrap(server: dict[str, str], master: str, names: list[str], secrets: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **server,
        "PGUSER": master,
        "SHOPFLOOR_DATABASES": " ".join(names),
        "SHOPFLOOR_SECRETS_DIR": str(secrets),
    }
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def state(server: dict[str, str], names: list[str]) -> str:
    """Everything the script decides: role attributes, database owners and ACLs, the schema's owner
    and ACL in each database."""
    listed = ", ".join(f"'{name}'" for name in names)  # the test's own random names
    text = psql(
        server,
        "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolcanlogin "  # noqa: S608
        f"FROM pg_roles WHERE rolname IN ({listed}) ORDER BY 1;"
        "SELECT datname, pg_get_userbyid(datdba), datacl::text "
        f"FROM pg_database WHERE datname IN ({listed}) ORDER BY 1",
    ).stdout
    for name in names:
        schema = "SELECT nspname, pg_get_userbyid(nspowner), nspacl::text FROM pg_namespace WHERE nspname = 'public'"
        text += psql(server, schema, database=name).stdout
    return text


def test_each_service_gets_its_database_and_a_least_privilege_role(
    server: dict[str, str], master: str, services: list[str], tmp_path: Path
) -> None:
    for name in services:
        (tmp_path / f"{name}-password").write_text(f"pa'ss-{name}")  # a quote stays data
    first = bootstrap(server, master, services, tmp_path)
    assert first.returncode == 0, first.stderr
    after_first = state(server, services)
    again = bootstrap(server, master, services, tmp_path)
    assert again.returncode == 0, again.stderr
    assert state(server, services) == after_first, "a second run changed something"

    catalog, orders = services
    roles = psql(
        server,
        f"SELECT rolsuper, rolcreatedb, rolcreaterole, rolinherit FROM pg_roles WHERE rolname = '{catalog}'",  # noqa: S608
    )
    assert roles.stdout.strip() == "f|f|f|f"
    owner = psql(server, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{catalog}'")  # noqa: S608
    assert owner.stdout.strip() == master, "the master user keeps the database (the role cannot drop it)"

    # Its own database: connect, create its tables in public, but no schema of its own.
    assert psql(server, "CREATE TABLE products (sku text)", user=catalog, database=catalog).returncode == 0
    schema = psql(server, "CREATE SCHEMA elsewhere", user=catalog, database=catalog)
    assert "permission denied for database" in schema.stderr
    # Another service's database, and the admin database's neighbours: refused at connect.
    crossing = psql(server, "SELECT 1", user=catalog, database=orders)
    assert crossing.returncode != 0
    assert "permission denied for database" in crossing.stderr
    # Nobody else (PUBLIC) may connect to a service's database; the other service cannot write in it.
    assert psql(server, f"SELECT has_database_privilege('{orders}', '{catalog}', 'CONNECT')").stdout.strip() == "f"
    assert psql(server, f"SELECT has_database_privilege('{master}', '{catalog}', 'CONNECT')").stdout.strip() == "t"


def test_a_rotated_password_is_set_again(
    server: dict[str, str], master: str, services: list[str], tmp_path: Path
) -> None:
    for name in services:
        (tmp_path / f"{name}-password").write_text("first")
    assert bootstrap(server, master, services, tmp_path).returncode == 0
    before = psql(server, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{services[0]}'").stdout  # noqa: S608
    (tmp_path / f"{services[0]}-password").write_text("second")
    assert bootstrap(server, master, services, tmp_path).returncode == 0
    after = psql(server, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{services[0]}'").stdout  # noqa: S608
    assert before.strip()
    assert after.strip() not in ("", before.strip())


def test_bad_input_stops_before_any_change(
    server: dict[str, str], master: str, services: list[str], tmp_path: Path
) -> None:
    (tmp_path / f"{services[0]}-password").write_text("x")
    missing = bootstrap(server, master, services, tmp_path)
    assert missing.returncode == 1
    assert f"{services[1]}-password" in missing.stderr
    bad_name = bootstrap(server, master, ['orders"; DROP DATABASE postgres; --'], tmp_path)
    assert bad_name.returncode == 2
    assert "is not a database name" in bad_name.stderr
    listed = f"'{services[0]}'"
    assert psql(server, f"SELECT count(*) FROM pg_roles WHERE rolname = {listed}").stdout.strip() == "0"  # noqa: S608
