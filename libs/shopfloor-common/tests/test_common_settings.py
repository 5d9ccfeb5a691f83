"""load_settings: a bad environment stops the process with exit code 2 and names the variable."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from shopfloor_common.settings import (
    AdminSettings,
    CacheSettings,
    DatabaseSettings,
    ServiceSettings,
    load_settings,
)

GOOD_KEY = "k" * 24


class FullSettings(ServiceSettings, DatabaseSettings, CacheSettings, AdminSettings):
    """The shape a real service's settings take: every mixin at once."""


VARIABLES = (
    "SERVICE_NAME",
    "ENVIRONMENT",
    "HOST",
    "PORT",
    "LOG_LEVEL",
    "ACCESS_LOG",
    "SHUTDOWN_DRAIN_SECONDS",
    "SHUTDOWN_TIMEOUT_SECONDS",
    "DATABASE_URL",
    "DB_POOL_SIZE",
    "DB_MAX_OVERFLOW",
    "REDIS_URL",
    "REDIS_TIMEOUT_SECONDS",
    "CACHE_TTL_SECONDS",
    "ADMIN_API_KEY",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The developer's or CI's own environment must not decide these tests."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///unused.db")
    monkeypatch.setenv("ADMIN_API_KEY", GOOD_KEY)
    return monkeypatch


def test_valid_environment_loads(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PORT", "8081")
    clean_env.setenv("LOG_LEVEL", "DEBUG")
    clean_env.setenv("ACCESS_LOG", "false")
    clean_env.setenv("DB_POOL_SIZE", "3")
    clean_env.setenv("SHUTDOWN_DRAIN_SECONDS", "1.5")

    settings = load_settings(FullSettings)

    assert settings.port == 8081
    assert settings.log_level == "DEBUG"
    assert settings.access_log is False
    assert settings.db_pool_size == 3
    assert settings.shutdown_drain_seconds == 1.5
    assert settings.redis_url is None
    assert settings.admin_api_key.get_secret_value() == GOOD_KEY


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("LOG_LEVEL", "LOUD"),
        ("ENVIRONMENT", "moon"),
        ("ADMIN_API_KEY", "short-key"),
        ("DB_POOL_SIZE", "0"),
        ("SHUTDOWN_DRAIN_SECONDS", "-1"),
        ("REDIS_TIMEOUT_SECONDS", "0"),
    ],
)
def test_bad_value_exits_2_naming_the_variable(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)

    with pytest.raises(SystemExit) as exited:
        load_settings(FullSettings)

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "FullSettings" in err
    assert f"{variable}:" in err
    assert "Traceback" not in err


def test_missing_required_variables_are_all_named(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.delenv("DATABASE_URL")
    clean_env.delenv("ADMIN_API_KEY")

    with pytest.raises(SystemExit) as exited:
        load_settings(FullSettings)

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL:" in err
    assert "ADMIN_API_KEY:" in err


def test_rejected_admin_key_is_not_echoed(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # A key that is merely too short is still somebody's secret: it must not land in a log.
    clean_env.setenv("ADMIN_API_KEY", "hunter2-secret")

    with pytest.raises(SystemExit):
        load_settings(FullSettings)

    assert "hunter2-secret" not in capsys.readouterr().err


def test_real_process_exits_2_with_message_on_stderr() -> None:
    script = textwrap.dedent(
        """
        from shopfloor_common.settings import ServiceSettings, load_settings

        class TinySettings(ServiceSettings):
            pass

        load_settings(TinySettings)
        print("should not get here")
        """
    )
    env = {key: value for key, value in os.environ.items() if key not in VARIABLES}
    env["PORT"] = "abc"

    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30, check=False
    )

    assert result.returncode == 2
    assert "PORT:" in result.stderr
    assert "TinySettings" in result.stderr
    assert "Traceback" not in result.stderr
    assert "should not get here" not in result.stdout
