"""Engines, the database readiness check and Alembic migrations, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from shopfloor_common.db import create_engine, database_check, session_factory, transaction, upgrade_to_head
from shopfloor_common.service_cli import run_service_cli
from shopfloor_common.settings import DatabaseSettings, ServiceSettings

ENV_PY = """\
from shopfloor_common.db import run_migrations_from_env_py

run_migrations_from_env_py(None)
"""

WIDGETS_VERSION = """\
import sqlalchemy as sa
from alembic import op

revision = "0001_widgets"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "widgets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False, unique=True),
    )


def downgrade() -> None:
    op.drop_table("widgets")
"""


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    (directory / "versions").mkdir(parents=True)
    (directory / "env.py").write_text(ENV_PY)
    (directory / "versions" / "0001_widgets.py").write_text(WIDGETS_VERSION)
    return directory


async def schema_of(database_url: str) -> tuple[set[str], list[str]]:
    """Tables present and the revisions Alembic recorded."""
    engine = create_engine(DatabaseSettings(database_url=database_url))
    try:
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
            revisions = (
                list((await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars())
                if "alembic_version" in tables
                else []
            )
    finally:
        await engine.dispose()
    return tables, revisions


async def test_engine_answers_and_readiness_check_passes(database_url: str) -> None:
    engine = create_engine(DatabaseSettings(database_url=database_url, db_pool_size=2))
    try:
        await database_check(engine)()
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 40 + 2"))).scalar_one() == 42
    finally:
        await engine.dispose()


async def test_transaction_commits_or_rolls_back(database_url: str) -> None:
    engine = create_engine(DatabaseSettings(database_url=database_url))
    sessions = session_factory(engine)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
        async with transaction(sessions) as session:
            await session.execute(text("INSERT INTO notes (id, body) VALUES (1, 'kept')"))

        async def fail_half_way() -> None:
            async with transaction(sessions) as session:
                await session.execute(text("INSERT INTO notes (id, body) VALUES (2, 'lost')"))
                raise RuntimeError("the unit of work fails half-way")

        with pytest.raises(RuntimeError, match="half-way"):
            await fail_half_way()

        async with sessions() as session:
            rows = (await session.execute(text("SELECT body FROM notes ORDER BY id"))).scalars().all()
        assert rows == ["kept"]
    finally:
        await engine.dispose()


async def test_sqlite_engine_creates_parent_dirs_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "svc.db"
    engine = create_engine(DatabaseSettings(database_url=f"sqlite+aiosqlite:///{path}"))
    try:
        async with engine.connect() as connection:
            journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            foreign_keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
            busy_timeout = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
    finally:
        await engine.dispose()
    assert path.exists()
    assert journal == "wal"
    assert foreign_keys == 1
    assert busy_timeout == 5000


async def test_readiness_check_fails_when_database_is_unreachable(unused_tcp_port: int) -> None:
    engine = create_engine(
        DatabaseSettings(
            database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{unused_tcp_port}/nothing",
            db_connect_timeout_seconds=1,
        )
    )
    try:
        with pytest.raises(OSError):
            await database_check(engine)()
    finally:
        await engine.dispose()


def test_upgrade_to_head_creates_schema_and_is_idempotent(database_url: str, migrations_dir: Path) -> None:
    upgrade_to_head(migrations_dir, database_url)
    upgrade_to_head(migrations_dir, database_url)

    tables, revisions = asyncio.run(schema_of(database_url))
    assert "widgets" in tables
    assert revisions == ["0001_widgets"]


def test_upgrade_to_head_creates_sqlite_parent_dirs(tmp_path: Path, migrations_dir: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path}/var/local/svc.db"

    upgrade_to_head(migrations_dir, database_url)

    assert "widgets" in asyncio.run(schema_of(database_url))[0]


def test_upgrade_to_head_applies_a_new_version(database_url: str, migrations_dir: Path) -> None:
    upgrade_to_head(migrations_dir, database_url)
    (migrations_dir / "versions" / "0002_gadgets.py").write_text(
        WIDGETS_VERSION.replace('"0001_widgets"', '"0002_gadgets"')
        .replace("down_revision = None", 'down_revision = "0001_widgets"')
        .replace('"widgets"', '"gadgets"')
    )

    upgrade_to_head(migrations_dir, database_url)

    tables, revisions = asyncio.run(schema_of(database_url))
    assert {"widgets", "gadgets"} <= tables
    assert revisions == ["0002_gadgets"]


class CliSettings(ServiceSettings, DatabaseSettings):
    pass


def test_service_cli_migrate_and_seed(
    sqlite_url: str, migrations_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    seeded: list[str] = []

    async def seed(settings: CliSettings) -> int:
        if seeded:
            return 0
        seeded.append(settings.database_url)
        return 3

    def no_app(settings: CliSettings) -> FastAPI:
        raise AssertionError("migrate and seed must not build the app")

    def cli(*argv: str) -> None:
        run_service_cli("widgets", CliSettings, no_app, migrations_dir=migrations_dir, seed=seed, argv=list(argv))

    cli("migrate")
    cli("seed")
    cli("seed")

    assert "widgets" in asyncio.run(schema_of(sqlite_url))[0]
    assert seeded == [sqlite_url]
    assert capsys.readouterr().out.splitlines() == [
        "widgets: database migrated",
        "widgets: seeded 3 records",
        "widgets: data present, nothing seeded",
    ]


async def _terminate_backends(database_url: str) -> int:
    """Terminate the database's other backends and wait until they are gone, as after a failover."""
    import asyncpg

    admin_dsn, _, name = database_url.replace("postgresql+asyncpg://", "postgresql://").rpartition("/")
    admin = await asyncpg.connect(f"{admin_dsn}/postgres", timeout=5)
    others = "FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
    try:
        terminated = len(await admin.fetch(f"SELECT pg_terminate_backend(pid) {others}", name))
        for _ in range(100):
            if not await admin.fetchval(f"SELECT count(*) {others}", name):
                return terminated
            await asyncio.sleep(0.05)
        raise AssertionError(f"backends of {name} still there 5 s after pg_terminate_backend")
    finally:
        await admin.close()


@pytest.mark.postgres
@pytest.mark.parametrize("pre_ping", [True, False])
async def test_pre_ping_replaces_pooled_connections_the_server_has_dropped(postgres_url: str, pre_ping: bool) -> None:
    # What a database failover or restart does to a pool: every pooled connection is dead. With
    # pre-ping the next request gets a fresh connection, without a round trip (the driver has seen
    # the socket close); without it, the request fails (which is what the incident-db-failover lab
    # makes learners find).
    async def terminate(pooled: Any) -> None:
        assert await _terminate_backends(postgres_url) == 1
        # The server's goodbye reaches the client's event loop a moment after the backend is gone
        # from pg_stat_activity; a request sent in between meets it mid-query ("another operation
        # is in progress"), which is not what this test is about. Wait until the driver saw it.
        for _ in range(100):
            if pooled.is_closed():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the driver did not see its connection closed 5 s after the backend went")

    engine = create_engine(DatabaseSettings(database_url=postgres_url, db_pool_pre_ping=pre_ping))
    await _request_after(engine, terminate, served=pre_ping)


async def _request_after(
    engine: AsyncEngine, break_connections: Callable[[Any], Awaitable[None]], served: bool
) -> None:
    """One request pools a connection, break_connections(its driver connection) kills it, and the
    next request is served (on a fresh connection) or fails; the engine is disposed of afterwards."""
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
            pooled = (await connection.get_raw_connection()).driver_connection
        await break_connections(pooled)
        if served:
            async with engine.connect() as connection:
                assert await connection.scalar(text("SELECT 2")) == 2
        else:
            # The driver's error varies with how far the dead socket got (closed connection,
            # "another operation is in progress"); it is always the request's failure.
            with pytest.raises(DBAPIError):
                async with engine.connect() as connection:
                    await connection.scalar(text("SELECT 2"))
    finally:
        await engine.dispose()


class SilentDropProxy:
    """A TCP relay to PostgreSQL that can forget its connections the way a firewall or NAT does
    when their idle timeout passes: nothing reaches the client until it sends again, then a reset."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.dropped: set[asyncio.StreamWriter] = set()
        self.pipes: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *_: object) -> None:
        self.server.close()
        for client, upstream in self.pipes:
            client.transport.abort()
            upstream.transport.abort()

    def drop_silently(self) -> None:
        for client, upstream in self.pipes:
            upstream.transport.abort()
            self.dropped.add(client)
        self.pipes.clear()

    async def _relay(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self.pipes.append((client, upstream))

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, from_client: bool) -> None:
            while data := await reader.read(65536):
                if from_client and client in self.dropped:
                    client.transport.abort()  # the reset the client's next packet gets
                    return
                if from_client or client not in self.dropped:
                    writer.write(data)
            if client not in self.dropped:
                writer.close()  # pass the end of the stream on, as the network would

        await asyncio.gather(
            pipe(client_reader, upstream, from_client=True),
            pipe(upstream_reader, client, from_client=False),
            return_exceptions=True,
        )


@pytest.mark.postgres
@pytest.mark.parametrize("idle_enough", [True, False])
async def test_only_a_connection_idle_long_enough_costs_a_ping(
    postgres_url: str, idle_enough: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connection a firewall dropped silently looks open to the driver. One that sat unused for
    # PING_AFTER_IDLE_SECONDS is pinged and replaced; one used moments ago is trusted, which is what
    # saves the round trip on a busy pool (and the request fails if that trust was wrong).
    from shopfloor_common import db

    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0 if idle_enough else 3600.0)
    url = make_url(postgres_url)
    relay = SilentDropProxy(url.port or 5432)
    async with relay as port:

        async def drop(_pooled: Any) -> None:
            relay.drop_silently()

        engine = create_engine(DatabaseSettings(database_url=url.set(port=port).render_as_string(hide_password=False)))
        await _request_after(engine, drop, served=idle_enough)
