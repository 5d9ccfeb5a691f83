"""`shopfloor run --postgres URL --redis URL` hands the servers to the stack (which makes one
database per service on the PostgreSQL server and gives every service the Redis URL, over the
runner's own DATABASE_URL and REDIS_URL wiring); without them the stack stays on SQLite and the
in-process cache. The stack itself on real servers is exercised by the chaos runs
(tests/chaos/test_chaos_run_e2e.py) and the injector tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shopfloor.cli import main
from shopfloor.local.discovery import discover_services
from shopfloor.local.stack import StackOptions, service_environment

REPO = Path(__file__).resolve().parents[3]


def captured_options(monkeypatch: pytest.MonkeyPatch, *args: str) -> StackOptions:
    seen: dict[str, Any] = {}

    def fake_run_stack(options: StackOptions, console: object, observe: object = None) -> int:
        seen["options"] = options
        return 0

    monkeypatch.setattr("shopfloor.local.run.run_stack", fake_run_stack)
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit) as exited:
        main(["run", *args])
    assert exited.value.code in (0, None)
    options: StackOptions = seen["options"]
    return options


def test_postgres_and_redis_reach_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    options = captured_options(
        monkeypatch,
        "--postgres",
        "postgresql://postgres@127.0.0.1:5432/postgres",
        "--redis",
        "redis://127.0.0.1:6379/3",
    )
    assert options.postgres_url == "postgresql://postgres@127.0.0.1:5432/postgres"
    assert options.redis_url == "redis://127.0.0.1:6379/3"
    assert options.postgres_prefix == "shopfloor_local"  # shopfloor_local_<service>, kept across runs
    assert not options.temporary_databases


def test_without_them_the_shop_runs_on_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    options = captured_options(monkeypatch)
    assert (options.postgres_url, options.redis_url) == (None, None)


def test_the_runner_wiring_wins_over_a_database_url_in_the_environment(tmp_path: Path) -> None:
    """Why the flags exist: a DATABASE_URL of your shell does not reach the services."""
    services = discover_services(REPO)
    catalog = next(s for s in services if s.name == "catalog")
    env = service_environment(
        catalog,
        services,
        state_dir=tmp_path,
        admin_key="k" * 16,
        base={"DATABASE_URL": "postgresql://elsewhere/db", "REDIS_URL": "redis://elsewhere:6379/0"},
        database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/shopfloor_local_catalog",
        redis_url="redis://127.0.0.1:6379/3",
    )
    assert env["DATABASE_URL"] == "postgresql+asyncpg://postgres@127.0.0.1:5432/shopfloor_local_catalog"
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/3"
