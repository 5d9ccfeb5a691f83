"""Configuration comes only from environment variables, validated once at start.

A bad value stops the service with a message that names the variable, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["local", "test", "kind", "dev", "staging", "prod"]
REDIS_SCHEMES = ("redis", "rediss")


class ServiceSettings(BaseSettings):
    """Settings every service has. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    service_name: str = Field(default="service", description="Name used in logs and metrics.")
    environment: Environment = Field(
        default="local", description="Where this runs: local, test, kind, dev, staging or prod."
    )
    host: str = Field(default="127.0.0.1", description="Interface to listen on (0.0.0.0 in a container).")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port to listen on.")
    management_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port for /metrics, /livez, /readyz and /admin/faults (Prometheus, the kubelet, operators); "
        "then PORT answers them 404, so the Ingress never exposes them. Unset: PORT serves them too.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Minimum log level.")
    access_log: bool = Field(default=True, description="Log one JSON line per request.")
    shutdown_drain_seconds: float = Field(
        default=0.0,
        ge=0,
        le=300,
        description="After SIGTERM: seconds to keep serving while /readyz answers 503, so load balancers stop "
        "sending traffic before the listener closes.",
    )
    shutdown_timeout_seconds: float = Field(
        default=20.0, gt=0, le=600, description="After the drain: how long in-flight requests may take to finish."
    )
    faults_enabled: bool = Field(
        default=True,
        description="The fault switch (shopfloor_common.faults: SHOPFLOOR_FAULTS and the admin /admin/faults "
        "requests); false refuses every fault. ENVIRONMENT=prod refuses it whatever this says.",
    )
    shopfloor_faults: str = Field(
        default="",
        description="Faults switched on at start, for chaos runs and labs: `name[=value][:param=value]...` "
        "separated by `;`, e.g. `errors=0.5:routes=/api/orders;latency=0.2` (shopfloor_common.faults). "
        "Refused (the service does not start) in prod or with FAULTS_ENABLED=false.",
    )

    @field_validator("management_port", mode="before")
    @classmethod
    def _empty_management_port(cls, value: object) -> object:
        # MANAGEMENT_PORT= (empty) means unset, as an empty variable does everywhere else.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("shopfloor_faults")
    @classmethod
    def _check_faults(cls, value: str) -> str:
        from shopfloor_common.faults import FaultError, parse_fault_spec

        try:
            parse_fault_spec(value)
        except FaultError as exc:
            raise ValueError(str(exc)) from None
        return value.strip()

    @model_validator(mode="after")
    def _no_faults_where_refused(self) -> Self:
        if self.management_port is not None and self.management_port == self.port:
            raise ValueError(f"MANAGEMENT_PORT equals PORT ({self.port}): the management port must be another port")
        # Failing the start (not ignoring the value) makes a rollout that carries faults into prod
        # stop at its first pod, which is not ready, while the old pods keep serving.
        if self.shopfloor_faults and self.environment == "prod":
            raise ValueError("SHOPFLOOR_FAULTS is set, and fault injection is refused in prod")
        if self.shopfloor_faults and not self.faults_enabled:
            raise ValueError("SHOPFLOOR_FAULTS is set while FAULTS_ENABLED=false")
        return self


class DatabaseSettings(BaseSettings):
    """SQLAlchemy async engine settings; the pool options apply to PostgreSQL."""

    database_url: str = Field(description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...")
    # 16 kept + 4 for bursts (was 10 + 10; the cap per process stays 20): an overflow connection is
    # opened and closed per burst, and at 16 concurrent checkouts that churn (connect, TLS attempt,
    # statements prepared again) was about 6% of orders' profile samples (docs/performance.md).
    db_pool_size: int = Field(default=16, ge=1, le=200, description="Connections kept open per process.")
    db_max_overflow: int = Field(default=4, ge=0, le=200, description="Extra connections allowed under burst.")
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=120, description="Wait for a free connection.")
    db_pool_pre_ping: bool = Field(
        default=True,
        description="Test a pooled connection before use: replace it when the server has closed it, "
        "and ping it first when it sat unused for 30 s.",
    )
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120, description="TCP connect timeout.")


class RedisSettings(BaseSettings):
    """Redis is optional everywhere: unset, a service keeps its state in-process. On AWS it is
    ElastiCache with TLS and an AUTH token: rediss://, the server certificate verified, a password."""

    redis_url: str | None = Field(
        default=None,
        description="redis://host:6379/0, or rediss://[:password@]host:6379/0 for TLS (the server certificate "
        "and host name are verified), for the shared cache/counters; unset = in-process.",
    )
    redis_password: SecretStr | None = Field(
        default=None,
        description="Redis AUTH password when REDIS_URL carries none (e.g. from a Secret); give it in one place only.",
    )
    redis_ca_file: Path | None = Field(
        default=None,
        description="CA bundle that signs the Redis server certificate (rediss:// only); unset = the system's "
        "trusted CAs, which include ElastiCache's.",
    )
    redis_timeout_seconds: float = Field(default=0.25, gt=0, le=10, description="Per-operation Redis timeout.")

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return check_redis_url(value.strip())

    @field_validator("redis_ca_file")
    @classmethod
    def _check_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not (value.is_file() and os.access(value, os.R_OK)):
            raise ValueError(f"{value} is not a readable file")
        return value

    @model_validator(mode="after")
    def _check_redis_combination(self) -> RedisSettings:
        if self.redis_url is None:
            return self
        parsed = urlsplit(self.redis_url)
        if self.redis_ca_file is not None and parsed.scheme != "rediss":
            raise ValueError(
                "REDIS_CA_FILE is set but REDIS_URL is not rediss://: the certificate would never be checked"
            )
        if self.redis_password is not None and parsed.password:
            raise ValueError("the Redis password is both in REDIS_URL and in REDIS_PASSWORD: give it once")
        return self


def check_redis_url(url: str) -> str:
    """The URL as given when redis-py can use it as meant; a ValueError naming the fault otherwise.
    The message never repeats the URL: it may carry the password."""
    try:
        parsed = urlsplit(url)
        port = parsed.port
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from None
    if parsed.scheme not in REDIS_SCHEMES:
        raise ValueError(f"scheme {parsed.scheme or '(none)'!r} is not redis:// or rediss:// (TLS)")
    if not parsed.hostname:
        raise ValueError("no host: expected redis[s]://[:password@]host[:port][/db]")
    if port == 0:
        raise ValueError("port 0 is not a port")
    database = parsed.path.strip("/")
    if database and not database.isdigit():
        raise ValueError(f"the path must be a database number (/0), not /{database}")
    if parsed.query or parsed.fragment:
        raise ValueError("no query or fragment: TLS and the password have settings of their own")
    return url


class CacheSettings(RedisSettings):
    """Redis when REDIS_URL is set, an in-process TTL cache otherwise."""

    cache_ttl_seconds: float = Field(default=30.0, gt=0, le=86400, description="How long a cached read lives.")
    cache_max_entries: int = Field(default=10_000, ge=1, description="In-process cache size.")


class AdminSettings(BaseSettings):
    admin_api_key: SecretStr = Field(
        min_length=16, description="Key that admin requests carry in X-API-Key (at least 16 characters)."
    )


S = TypeVar("S", bound=BaseSettings)


def settings_errors(exc: ValidationError) -> list[str]:
    """One line per bad variable, naming it the way the operator sets it."""
    lines = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"]).upper() or "(settings)"
        lines.append(f"{name}: {error['msg']}")
    return lines


def load_settings(cls: type[S]) -> S:
    """Build settings from the environment or stop the process with a clear message."""
    try:
        return cls()
    except ValidationError as exc:
        print(f"configuration error in {cls.__name__}:", file=sys.stderr)
        for line in settings_errors(exc):
            print(f"  {line}", file=sys.stderr)
        raise SystemExit(2) from None
