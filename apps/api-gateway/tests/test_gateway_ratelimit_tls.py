"""The rate limit on a real Redis with TLS and a password (ElastiCache's setup; the root conftest's
redis-server with a throwaway CA): shared by gateway instances over rediss://, and when Redis refuses
the password or the certificate it still lets requests through (fail open) but says so: an error
log, redis_misconfigured{component="ratelimit"} and /readyz "degraded". Before, a prod with a wrong
REDIS_URL ran without a rate limit and nothing said so."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import REGISTRY

if TYPE_CHECKING:
    from conftest import OpenGateway, StubCatalog

pytestmark = pytest.mark.redis


async def test_instances_share_the_limit_over_tls_with_auth(
    stub: StubCatalog, open_gateway: OpenGateway, tls_redis: Any
) -> None:
    settings = {
        "RATE_LIMIT": "3/minute",
        "REDIS_URL": tls_redis.url(),
        "REDIS_PASSWORD": tls_redis.password,
        "REDIS_CA_FILE": tls_redis.ca_file,
    }
    async with open_gateway(**settings) as pod_a, open_gateway(**settings) as pod_b:
        statuses = [(await pod.get("/api/products/MUG-001")).status_code for pod in (pod_a, pod_b, pod_a, pod_b)]
        ready = await pod_a.get("/readyz")

    assert statuses == [200, 200, 200, 429]
    assert ready.status_code == 200
    assert "degraded" not in ready.json()
    assert REGISTRY.get_sample_value("redis_misconfigured", {"component": "ratelimit"}) == 0


@pytest.mark.parametrize(
    ("describe", "remedy"),
    [("a wrong password", "REDIS_PASSWORD"), ("an untrusted certificate", "REDIS_CA_FILE")],
)
async def test_a_refused_configuration_lets_requests_through_visibly(
    stub: StubCatalog,
    open_gateway: OpenGateway,
    tls_redis: Any,
    caplog: pytest.LogCaptureFixture,
    describe: str,
    remedy: str,
) -> None:
    settings = {"RATE_LIMIT": "2/minute", "REDIS_URL": tls_redis.url(), "REDIS_PASSWORD": tls_redis.password}
    if describe == "a wrong password":
        settings |= {"REDIS_PASSWORD": "not-the-password", "REDIS_CA_FILE": tls_redis.ca_file}
    else:
        settings |= {"REDIS_CA_FILE": tls_redis.other_ca_file}
    # create_app reconfigures the root logger, so listen on the limiter's own logger
    ratelimit_log = logging.getLogger("api_gateway.ratelimit")
    ratelimit_log.addHandler(caplog.handler)
    try:
        async with open_gateway(**settings) as client:
            statuses = [(await client.get("/api/products/MUG-001")).status_code for _ in range(4)]
            ready = await client.get("/readyz")
    finally:
        ratelimit_log.removeHandler(caplog.handler)

    assert statuses == [200] * 4  # over the limit of 2, and let through: the limiter fails open
    errors = [
        r.getMessage() for r in caplog.records if r.name == "api_gateway.ratelimit" and r.levelno == logging.ERROR
    ]
    assert len(errors) == 1, errors
    assert remedy in errors[0]
    assert ready.status_code == 200
    assert remedy in ready.json()["degraded"]["rate-limit"]
    assert REGISTRY.get_sample_value("redis_misconfigured", {"component": "ratelimit"}) == 1
