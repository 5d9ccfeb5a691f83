"""Where the local stack's services keep their data: one SQLite file each (the default), or one
database each on a PostgreSQL server (`shopfloor run --postgres URL`, the bench, chaos runs and
labs whose faults need a real server: pool exhaustion, held locks, a slow or unreachable database).

One database per service, as in a cluster, so a service can only reach its own tables.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

# What a server URL may look like: the admin database to connect to first (postgres by default).
_POSTGRES_URL = re.compile(r"^postgresql(\+asyncpg)?://[^/]*(/[A-Za-z0-9_]*)?$")
_NAME = re.compile(r"[^a-z0-9_]")


class DatabaseError(Exception):
    """A database could not be prepared; the message says what to do."""


class Databases(Protocol):
    async def prepare(self, services: Sequence[str]) -> dict[str, str]:
        """service -> its DATABASE_URL, creating what is missing."""
        ...

    async def close(self) -> None:
        """Drop what was made for this run only."""
        ...

    def describe(self) -> str: ...


class SqliteDatabases:
    """A SQLite file per service in the state folder, kept across runs."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    async def prepare(self, services: Sequence[str]) -> dict[str, str]:
        return {name: f"sqlite+aiosqlite:///{self.state_dir / name}.db" for name in services}

    async def close(self) -> None:
        return None

    def describe(self) -> str:
        return f"SQLite files in {self.state_dir}"


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy asyncpg URL as asyncpg itself takes it."""
    return re.sub(r"^postgresql\+asyncpg://", "postgresql://", url)


def sqlalchemy_url(url: str) -> str:
    return re.sub(r"^postgresql://", "postgresql+asyncpg://", url)


class PostgresDatabases:
    """A database per service on one PostgreSQL server.

    `prefix` names them (`<prefix>_<service>`); with `temporary` they get a random suffix and are
    dropped on close (the bench, tests), otherwise they are kept and reused by the next run, as
    the SQLite files are."""

    def __init__(self, server_url: str, *, prefix: str = "shopfloor_local", temporary: bool = False) -> None:
        if not _POSTGRES_URL.match(server_url):
            raise DatabaseError(
                f"not a PostgreSQL server URL: {server_url!r} "
                "(expected postgresql://user[:password]@host[:port][/admin_database])"
            )
        self.server_url = sqlalchemy_url(server_url)
        suffix = f"_{uuid.uuid4().hex[:8]}" if temporary else ""
        self.prefix = _NAME.sub("_", prefix.lower()) + suffix
        self.temporary = temporary
        self.created: list[str] = []
        self.server_version = ""

    def database_name(self, service: str) -> str:
        return f"{self.prefix}_{_NAME.sub('_', service.lower())}"

    def url_of(self, database: str) -> str:
        base = self.server_url.rsplit("/", 1)[0] if self.server_url.count("/") > 2 else self.server_url
        return f"{base}/{database}"

    async def _connect(self) -> Any:
        import asyncpg

        try:
            return await asyncpg.connect(asyncpg_dsn(self.server_url), timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            raise DatabaseError(
                f"PostgreSQL at {self.server_url} is not reachable ({exc}). Start PostgreSQL (e.g. on "
                "127.0.0.1:5432) or pass another server URL."
            ) from None

    async def prepare(self, services: Sequence[str]) -> dict[str, str]:
        connection = await self._connect()
        try:
            self.server_version = str(await connection.fetchval("SHOW server_version"))
            existing = {row[0] for row in await connection.fetch("SELECT datname FROM pg_database")}
            urls = {}
            for service in services:
                name = self.database_name(service)
                if name not in existing:
                    await connection.execute(f'CREATE DATABASE "{name}"')
                    self.created.append(name)
                urls[service] = self.url_of(name)
            return urls
        finally:
            await connection.close()

    async def close(self) -> None:
        if not self.temporary or not self.created:
            return
        connection = await self._connect()
        try:
            for name in self.created:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
        self.created.clear()

    def describe(self) -> str:
        return f"PostgreSQL databases {self.prefix}_<service> on {self.server_url.rsplit('@', 1)[-1]}"
