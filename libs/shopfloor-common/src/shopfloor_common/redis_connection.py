"""One way to reach Redis for everything that shares state through it (the cache, the gateway's rate
limit): the URL, password and CA bundle of RedisSettings, TLS with the server certificate and host
name verified, and failures told apart.

Redis is optional, so its users fail open: an outage only costs speed. A *misconfiguration* (the
server refuses the password, or its certificate is not trusted) fails open the same way, which is
why it must not pass silently: it is logged as an error naming the fix, counted, exposed as the
gauge redis_misconfigured{component} and reported in /readyz under "degraded". A misconfigured prod
then runs visibly without its cache and rate limit, not silently.
"""

from __future__ import annotations

import logging
import ssl
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import Counter, Gauge

from shopfloor_common.extras import missing_extra

try:
    from redis.asyncio import ConnectionPool, Redis
    from redis.exceptions import AuthenticationError, ResponseError
except ModuleNotFoundError as exc:
    raise missing_extra(__name__, "cache", exc) from exc

REDIS_FAILURES = Counter(
    "redis_failures_total", "Redis operations that failed, by component and reason (auth, tls, unavailable).",
    ["component", "reason"],
)  # fmt: skip
REDIS_MISCONFIGURED = Gauge(
    "redis_misconfigured",
    "1 while Redis refuses this component's configuration (AUTH password or TLS trust): it runs without Redis.",
    ["component"],
)


class RedisFailure(StrEnum):
    AUTH = "auth"
    TLS = "tls"
    UNAVAILABLE = "unavailable"


REMEDIES = {
    RedisFailure.AUTH: "Redis refused the password: check REDIS_URL's password or REDIS_PASSWORD (the AUTH token)",
    RedisFailure.TLS: "the Redis server's TLS certificate is not trusted or not for this host: check REDIS_CA_FILE "
    "and that REDIS_URL names the host the certificate was issued for (on ElastiCache, its endpoint)",
}


def connection_options(
    url: str, *, password: str | None = None, ca_file: Path | None = None, timeout_seconds: float
) -> dict[str, Any]:
    """Keyword arguments for redis-py's from_url next to `url`: timeouts, the password, and for
    rediss:// a verified certificate (required, host name checked, REDIS_CA_FILE or the system CAs)."""
    options: dict[str, Any] = {"socket_timeout": timeout_seconds, "socket_connect_timeout": timeout_seconds}
    if password is not None:
        options["password"] = password
    if urlsplit(url).scheme == "rediss":
        options |= {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
        if ca_file is not None:
            options["ssl_ca_certs"] = str(ca_file)
    return options


def create_pool(
    url: str, *, password: str | None = None, ca_file: Path | None = None, timeout_seconds: float, **extra: Any
) -> ConnectionPool:
    options = connection_options(url, password=password, ca_file=ca_file, timeout_seconds=timeout_seconds)
    return ConnectionPool.from_url(url, **options, **extra)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify(exc: BaseException) -> RedisFailure:
    """Auth and TLS failures are configuration errors; anything else is Redis being unavailable."""
    for error in _chain(exc):
        if isinstance(error, AuthenticationError):
            return RedisFailure.AUTH
        if isinstance(error, ResponseError) and str(error).startswith(("NOAUTH", "WRONGPASS", "AUTH")):
            return RedisFailure.AUTH
        if isinstance(error, ssl.SSLError):
            return RedisFailure.TLS
        # redis-py reports connect errors as text: the ssl error survives only in the message.
        if "CERTIFICATE_VERIFY_FAILED" in str(error) or "[SSL" in str(error):
            return RedisFailure.TLS
    return RedisFailure.UNAVAILABLE


class RedisHealth:
    """What one component last saw of Redis. `failed` and `succeeded` are called by the component on
    each operation; `probe` pings on demand (readiness) and answers the misconfiguration, if any."""

    def __init__(self, component: str, log: logging.Logger) -> None:
        self.component = component
        self._log = log
        self.misconfiguration: str | None = None
        REDIS_MISCONFIGURED.labels(component).set(0)

    def failed(self, exc: BaseException) -> RedisFailure:
        reason = classify(exc)
        REDIS_FAILURES.labels(self.component, reason.value).inc()
        if reason is RedisFailure.UNAVAILABLE:
            return reason
        message = f"{REMEDIES[reason]} ({type(exc).__name__}: {exc})"[:400]
        if self.misconfiguration is None:
            self._log.error("%s runs without Redis: %s", self.component, message)
        self.misconfiguration = message
        REDIS_MISCONFIGURED.labels(self.component).set(1)
        return reason

    def succeeded(self) -> None:
        if self.misconfiguration is not None:
            self._log.warning("%s: Redis accepts the configuration again", self.component)
            self.misconfiguration = None
            REDIS_MISCONFIGURED.labels(self.component).set(0)

    async def probe(self, client: Redis) -> str | None:
        """PING; the misconfiguration it reveals, or None (an outage is not one: it stays fail-open)."""
        try:
            await client.ping()
        except Exception as exc:  # a probe must report, never raise
            self.failed(exc)
            return self.misconfiguration
        self.succeeded()
        return None
