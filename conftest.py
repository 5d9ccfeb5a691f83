"""Fixtures every suite may use: real PostgreSQL and Redis, each test on its own database.

PostgreSQL and Redis are real servers (TEST_DATABASE_URL / TEST_REDIS_URL, defaulting to
127.0.0.1). Without them a test that needs them is skipped with a message saying how to provide
them, except under CI=true, where it fails: CI must never go green by skipping.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"


def missing_dependency(what: str, how: str) -> None:
    """Skip on a developer's machine, fail in CI."""
    message = f"{what} is not reachable. {how}"
    if IN_CI:
        pytest.fail(message + " (CI=true: failing instead of skipping)")
    pytest.skip(message)


async def _admin_execute(sql: str) -> None:
    import asyncpg  # imported here so SQLite-only runs do not need the server

    dsn = TEST_DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn, timeout=3)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"shopfloor_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin_execute(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as exc:
        missing_dependency(
            f"PostgreSQL at {TEST_DATABASE_URL} ({exc})",
            "Start PostgreSQL 15+ on 127.0.0.1:5432 (trust auth for user postgres) "
            "or set TEST_DATABASE_URL=postgresql+asyncpg://user:pass@host:port/db.",
        )
    base, _, _ = TEST_DATABASE_URL.rpartition("/")
    yield f"{base}/{name}"
    asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/test.db"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Run a test once on SQLite and once on PostgreSQL: the repository logic must hold on both."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A Redis database emptied before and after the test."""
    from redis.asyncio import Redis

    client = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        await client.flushdb()
    except OSError as exc:
        await client.aclose()
        missing_dependency(
            f"Redis at {TEST_REDIS_URL} ({exc})",
            "Start Redis 7 on 127.0.0.1:6379 or set TEST_REDIS_URL=redis://host:port/db.",
        )
    except Exception as exc:
        await client.aclose()
        missing_dependency(f"Redis at {TEST_REDIS_URL} ({exc})", "Set TEST_REDIS_URL to a reachable Redis.")
    yield TEST_REDIS_URL
    await client.flushdb()
    await client.aclose()
