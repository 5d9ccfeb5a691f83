"""The cache on a real Redis with TLS and a password, as ElastiCache runs it (a redis-server the
root conftest starts on 127.0.0.1 with its own throwaway CA): it works over rediss:// with the
certificate verified, and when Redis refuses the configuration (a wrong or missing password, an
untrusted certificate, a host name the certificate is not for) it still fails open, as before, but
no longer silently: an error log naming the fix, the gauge redis_misconfigured and /readyz."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from prometheus_client import REGISTRY
from pydantic import SecretStr, ValidationError

from shopfloor_common.app import create_service_app
from shopfloor_common.cache import RedisCache, create_cache
from shopfloor_common.health import Lifecycle
from shopfloor_common.redis_connection import RedisFailure, classify
from shopfloor_common.settings import CacheSettings, ServiceSettings, check_redis_url

pytestmark = pytest.mark.redis


def misconfigured(component: str = "cache") -> float | None:
    return REGISTRY.get_sample_value("redis_misconfigured", {"component": component})


def failures(reason: str, component: str = "cache") -> float:
    return REGISTRY.get_sample_value("redis_failures_total", {"component": component, "reason": reason}) or 0.0


def cache_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "shopfloor.cache" and r.levelno == logging.ERROR]


def open_cache(caches: list[RedisCache], url: str, **options: Any) -> RedisCache:
    cache = RedisCache(url, ttl_seconds=30, timeout_seconds=2, backoff_seconds=0, **options)
    caches.append(cache)
    return cache


# --- it works ---------------------------------------------------------------------------------


async def test_the_cache_works_over_tls_with_the_password_in_the_url(tls_redis: Any, caches: list[RedisCache]) -> None:
    cache = open_cache(caches, tls_redis.url(tls_redis.password), ca_file=tls_redis.ca_file)

    await cache.set("product:A", b"a")

    assert await cache.get("product:A") == b"a"
    assert await cache.misconfiguration() is None
    assert misconfigured() == 0


async def test_the_password_may_come_from_its_own_setting(tls_redis: Any) -> None:
    """REDIS_URL in the ConfigMap, REDIS_PASSWORD from the Secret."""
    settings = CacheSettings(
        redis_url=tls_redis.url(),
        redis_password=SecretStr(tls_redis.password),
        redis_ca_file=tls_redis.ca_file,
        redis_timeout_seconds=2,  # a TLS handshake on a busy machine can take longer than the 0.25 s default
    )
    cache = create_cache(settings)
    try:
        await cache.set("k", b"v")
        assert await cache.get("k") == b"v"
    finally:
        await cache.close()


# --- it refuses a bad configuration visibly ---------------------------------------------------


@pytest.mark.parametrize(
    ("describe", "reason", "remedy"),
    [
        ("a wrong password", RedisFailure.AUTH, "REDIS_PASSWORD"),
        ("no password", RedisFailure.AUTH, "REDIS_PASSWORD"),
        ("a CA that did not sign the server's certificate", RedisFailure.TLS, "REDIS_CA_FILE"),
        ("the system's CAs only", RedisFailure.TLS, "REDIS_CA_FILE"),
        ("a host name the certificate is not for", RedisFailure.TLS, "the host the certificate was issued for"),
    ],
)
async def test_a_refused_configuration_fails_open_but_is_reported(
    tls_redis: Any,
    caches: list[RedisCache],
    caplog: pytest.LogCaptureFixture,
    describe: str,
    reason: RedisFailure,
    remedy: str,
) -> None:
    good = {"url": tls_redis.url(tls_redis.password), "ca_file": tls_redis.ca_file}
    bad = {
        "a wrong password": good | {"url": tls_redis.url("not-the-password")},
        "no password": good | {"url": tls_redis.url()},
        "a CA that did not sign the server's certificate": good | {"ca_file": tls_redis.other_ca_file},
        "the system's CAs only": good | {"ca_file": None},
        "a host name the certificate is not for": good | {"url": tls_redis.url(tls_redis.password, host="localhost")},
    }[describe]
    caplog.set_level(logging.ERROR, logger="shopfloor.cache")
    cache = open_cache(caches, bad["url"], ca_file=bad["ca_file"])
    before = failures(reason.value)

    # Fail open, as before: a miss and a no-op, never an exception.
    await cache.set("k", b"v")
    assert await cache.get("k") is None

    # But visible: one error naming the fix, the gauge, the counter, and readiness's "degraded".
    errors = cache_errors(caplog)
    assert len(errors) == 1, errors
    assert remedy in errors[0]
    assert tls_redis.password not in errors[0]
    assert misconfigured() == 1
    assert failures(reason.value) >= before + 1
    detail = await cache.misconfiguration()
    assert detail is not None
    assert remedy in detail


async def test_a_fixed_configuration_clears_the_report(
    tls_redis: Any, caches: list[RedisCache], caplog: pytest.LogCaptureFixture
) -> None:
    """A rotation gone wrong, then put right: the server's password changes under a running cache."""
    cache = open_cache(caches, tls_redis.url(tls_redis.password), ca_file=tls_redis.ca_file)
    admin = redis.Redis(host="127.0.0.1", port=tls_redis.port, ssl=True, **tls_redis.client_options())
    admin.config_set("requirepass", "a-new-password")
    try:
        admin.connection_pool.disconnect()  # pooled connections stay authenticated: start over, as after a restart
        await cache._redis.connection_pool.disconnect()
        assert await cache.misconfiguration() is not None
        assert misconfigured() == 1
    finally:
        restore = redis.Redis(
            host="127.0.0.1",
            port=tls_redis.port,
            ssl=True,
            **(tls_redis.client_options() | {"password": "a-new-password"}),
        )
        restore.config_set("requirepass", tls_redis.password)
        restore.close()
        admin.close()

    assert await cache.misconfiguration() is None
    assert misconfigured() == 0
    await cache.set("k", b"v")
    assert await cache.get("k") == b"v"


async def test_readyz_stays_ready_and_says_what_runs_degraded(tls_redis: Any, caches: list[RedisCache]) -> None:
    cache = open_cache(caches, tls_redis.url("not-the-password"), ca_file=tls_redis.ca_file)
    lifecycle = Lifecycle()
    lifecycle.add_degradation("cache", cache.misconfiguration)
    app = create_service_app(ServiceSettings(access_log=False), title="t", lifecycle=lifecycle)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert "Redis refused the password" in response.json()["degraded"]["cache"]


def test_an_outage_is_not_a_misconfiguration() -> None:
    refused = redis.ConnectionError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")
    assert classify(refused) is RedisFailure.UNAVAILABLE
    assert classify(TimeoutError()) is RedisFailure.UNAVAILABLE


# --- a malformed configuration stops the service before it starts -------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://cache:6379/0", "scheme 'http' is not redis:// or rediss://"),
        ("rediss://:secret@/0", "no host"),
        ("redis://cache:notaport/0", "not a URL"),
        ("redis://cache:6379/cache", "must be a database number"),
        ("rediss://cache:6379/0?ssl_cert_reqs=none", "no query or fragment"),
    ],
)
def test_a_malformed_url_is_refused_without_repeating_it(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        check_redis_url(url)
    assert "secret" not in str(refused.value)


def test_a_ca_file_needs_tls_and_the_password_is_given_once(tls_redis_server: Any, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="REDIS_CA_FILE is set but REDIS_URL is not rediss://"):
        CacheSettings(redis_url="redis://cache:6379/0", redis_ca_file=tls_redis_server.ca_file)
    with pytest.raises(ValidationError, match="give it once"):
        CacheSettings(redis_url="rediss://:one@cache:6379/0", redis_password=SecretStr("two"))
    with pytest.raises(ValidationError, match="is not a readable file"):
        CacheSettings(redis_url="rediss://cache:6379/0", redis_ca_file=tmp_path / "missing.pem")


def test_the_process_stops_with_a_message_naming_the_variable() -> None:
    """What an operator sees when the Secret or ConfigMap holds a bad URL: exit 2, no traceback, no password."""
    program = textwrap.dedent(
        """
        from shopfloor_common.settings import CacheSettings, load_settings
        load_settings(CacheSettings)
        """
    )
    env = {**os.environ, "REDIS_URL": "https://:hunter2@cache.example:6379/0"}
    result = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr
    assert "is not redis:// or rediss://" in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr
