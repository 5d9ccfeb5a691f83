"""The environment each service gets from `shopfloor run`, and the local admin key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from shopfloor.local.discovery import ServiceSpec
from shopfloor.local.stack import StackError, StackOptions, assign_ports, resolve_admin_key, service_environment

CATALOG = ServiceSpec("catalog", 8081, migrate=True, seed=True)
GATEWAY = ServiceSpec("api-gateway", 8080, edge_prefix="/api")


def test_each_service_gets_its_own_settings_and_every_services_url(tmp_path: Path) -> None:
    user = {"REDIS_URL": "redis://127.0.0.1:6379/0", "PORT": "1", "DATABASE_URL": "postgresql://elsewhere/x"}
    env = service_environment(CATALOG, [CATALOG, GATEWAY], state_dir=tmp_path, admin_key="k" * 20, base=user)
    assert env["SERVICE_NAME"] == "catalog"
    assert env["PORT"] == "8081"  # the runner's port wins: the stack only works with it
    assert env["HOST"] == "127.0.0.1"
    assert env["ENVIRONMENT"] == "local"
    assert env["SHUTDOWN_DRAIN_SECONDS"] == "0"
    assert env["DATABASE_URL"] == f"sqlite+aiosqlite:///{tmp_path}/catalog.db"
    assert env["CATALOG_URL"] == "http://127.0.0.1:8081"
    assert env["API_GATEWAY_URL"] == "http://127.0.0.1:8080"
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/0"  # the user's own setting passes through
    assert env["ADMIN_API_KEY"] == "k" * 20

    gateway_env = service_environment(GATEWAY, [CATALOG, GATEWAY], state_dir=tmp_path, admin_key="k" * 20, base={})
    assert "DATABASE_URL" not in gateway_env
    assert gateway_env["PORT"] == "8080"


def test_admin_key_is_generated_once_private_and_stable(tmp_path: Path) -> None:
    state = tmp_path / "var" / "local"
    first = resolve_admin_key(state, {})
    assert len(first.value) >= 16
    assert first.created
    path = state / "admin-key"
    assert first.file == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = resolve_admin_key(state, {})
    assert again.value == first.value
    assert not again.created


def test_admin_key_from_the_environment_wins(tmp_path: Path) -> None:
    key = resolve_admin_key(tmp_path, {"ADMIN_API_KEY": "my-own-admin-key-123"})
    assert key.value == "my-own-admin-key-123"
    assert key.file is None
    assert not (tmp_path / "admin-key").exists()
    with pytest.raises(StackError, match="at least 16"):
        resolve_admin_key(tmp_path, {"ADMIN_API_KEY": "short"})


def test_ports_can_be_overridden_or_chosen_free(tmp_path: Path) -> None:
    options = StackOptions(repo=tmp_path, state_dir=tmp_path, port_overrides={"catalog": 18081})
    assert [s.port for s in assign_ports([CATALOG, GATEWAY], options)] == [18081, 8080]
    free = assign_ports([CATALOG, GATEWAY], StackOptions(repo=tmp_path, state_dir=tmp_path, free_ports=True))
    assert all(s.port not in (8080, 8081) for s in free)
    assert len({s.port for s in free}) == 2
    with pytest.raises(StackError, match="unknown service"):
        assign_ports([CATALOG], StackOptions(repo=tmp_path, state_dir=tmp_path, port_overrides={"nope": 1}))
