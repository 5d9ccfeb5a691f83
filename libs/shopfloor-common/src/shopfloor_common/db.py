"""SQLAlchemy 2 async engines and Alembic migrations that run on PostgreSQL and SQLite alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopfloor_common.extras import missing_extra
from shopfloor_common.settings import DatabaseSettings

try:
    from sqlalchemy import DateTime, Insert, Table, bindparam, event, insert, text
    from sqlalchemy.engine import Connection, Dialect, make_url
    from sqlalchemy.exc import InvalidatePoolError
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
    from sqlalchemy.pool import NullPool
    from sqlalchemy.sql.elements import BindParameter
    from sqlalchemy.types import TypeDecorator
except ModuleNotFoundError as exc:
    raise missing_extra(__name__, "db", exc) from exc

if TYPE_CHECKING:
    from alembic.config import Config


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite would hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of the driver's deferred BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while a writer commits; busy_timeout waits instead of failing
    # with "database is locked" when two requests write at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    # A deferred transaction that reads and then writes fails at once with "database is locked"
    # when another writer committed in between; taking the write lock up front makes concurrent
    # writers queue on busy_timeout instead. SQLite is the local single-process default, so
    # serialising its transactions costs nothing that matters. A connection asked for AUTOCOMMIT (a
    # one-statement read) must not open a transaction at all.
    if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    url = settings.database_url
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, poolclass=NullPool)
        event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_args={"timeout": settings.db_connect_timeout_seconds},
    )
    if settings.db_pool_pre_ping:
        event.listen(engine.sync_engine.pool, "checkin", _note_checkin)
        event.listen(engine.sync_engine.pool, "checkout", _test_before_use)
    return engine


# SQLAlchemy's own pre-ping sends a round trip on every pool checkout (three per checkout request
# at orders; 10.6% of orders' profile samples, docs/performance.md). The test below answers the
# same question without one
# for a connection in use: when PostgreSQL closes a connection (restart, failover, a terminated
# backend) the driver sees its socket close within milliseconds and says so. Only a connection that
# has sat unused for PING_AFTER_IDLE_SECONDS, which a firewall or NAT may have dropped without a
# word, gets the round trip. A DisconnectionError from a checkout listener makes the pool connect
# afresh instead (SQLAlchemy's documented "pessimistic disconnect handling").
PING_AFTER_IDLE_SECONDS = 30.0
_CHECKED_IN_AT = "shopfloor_checked_in_at"


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info[_CHECKED_IN_AT] = time.monotonic()


def _test_before_use(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    # InvalidatePoolError, as SQLAlchemy's own pre-ping raises: one dead connection says the others
    # opened before it are likely dead too (a restart, a failover), so all are replaced.
    if dbapi_connection.driver_connection.is_closed():
        raise InvalidatePoolError("the server closed this pooled connection")
    idle_seconds = time.monotonic() - record.info.get(_CHECKED_IN_AT, time.monotonic())
    if idle_seconds >= PING_AFTER_IDLE_SECONDS and not _ping_outside_a_transaction(dbapi_connection):
        raise InvalidatePoolError(f"a pooled connection idle for {idle_seconds:.0f} s did not answer a ping")


def _ping_outside_a_transaction(dbapi_connection: Any) -> bool:
    # One `;` outside a transaction: SQLAlchemy's asyncpg ping wraps it in BEGIN ... ROLLBACK (for
    # PgBouncer's transaction mode, which the shop does not use), three round trips instead of one.
    try:
        dbapi_connection.run_async(lambda driver: driver.fetchrow(";"))
    except Exception:  # asyncpg's own errors or OSError: whatever the cause, not usable
        return False
    return True


def writes_in_with(engine: AsyncEngine) -> bool:
    """Whether the database runs INSERTs and UPDATEs inside WITH as parts of one atomic statement.
    PostgreSQL does, so a write of several rows can take one round trip instead of one per
    statement plus BEGIN and COMMIT; SQLite cannot, so there the same rows are written by
    separate statements in a transaction."""
    return engine.dialect.name == "postgresql"


def bound_value(table: Table, column: str, prefix: str = "") -> BindParameter[Any]:
    """A value bound as prefix + column, typed like the column (so UTCDateTime's checks apply)."""
    return bindparam(prefix + column, type_=table.c[column].type)


def written_columns(table: Table) -> tuple[str, ...]:
    """The columns an INSERT gives values to: all but an autoincrementing key."""
    return tuple(column.name for column in table.c if column is not table.autoincrement_column)


def bound_insert(table: Table, prefix: str) -> Insert:
    """INSERT INTO table (written_columns) with each value bound as prefix + column name, to build
    once and execute with a dict: no statement and cache key built per call, and one row per
    statement, which SQLAlchemy's compiled cache keeps (a multi-row VALUES it compiles every time).
    The prefix is needed because SQLAlchemy keeps a column's own name for its automatic binds."""
    return insert(table).values({name: bound_value(table, name, prefix) for name in written_columns(table)})


def bound_as(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A row's values named as bound_insert(table, prefix) binds them."""
    return {prefix + name: value for name, value in values.items()}


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def database_check(engine: AsyncEngine) -> Any:
    """A readiness check: the database answers a trivial query."""

    async def check() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return check


# --- Alembic ---------------------------------------------------------------------------------


# Alembic is imported inside these functions: it (with Mako and Pygments) adds most of a second
# to every service start, and only `<service> migrate` needs it.


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(migrations_dir: Path, database_url: str) -> None:
    """Apply every migration; safe to run again (Alembic records what ran)."""
    from alembic import command

    if is_sqlite(database_url):
        database = make_url(database_url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(migrations_dir, database_url), "head")


def run_migrations_from_env_py(target_metadata: Any) -> None:
    """The body of every service's migrations/env.py: online migrations over the async engine."""
    from alembic import context

    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by alembic_config()"

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=is_sqlite(url),  # SQLite alters tables by copying them
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(main())


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sessions() as session, session.begin():
        yield session
