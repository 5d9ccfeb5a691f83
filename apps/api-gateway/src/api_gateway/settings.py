"""The gateway's configuration: where catalog and orders are, how long to wait for them, who may call from a browser
and how fast one client may call."""

from __future__ import annotations

import re
from typing import Annotated, Any

from limits import RateLimitItem, parse_many
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from shopfloor_common.settings import RedisSettings, ServiceSettings

RATE_LIMIT_DISABLED = frozenset({"0", "off"})
# An origin is scheme://host[:port] with no path: "https://shop.example.com/" never matches a
# browser's Origin header, so a trailing slash is refused at start rather than failing silently.
_ORIGIN = re.compile(r"^(\*|https?://[^/\s]+)$")


class GatewaySettings(ServiceSettings, RedisSettings):
    service_name: str = Field(default="api-gateway", description="Name used in logs and metrics.")
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port to listen on.")
    catalog_url: str = Field(
        default="http://127.0.0.1:8081",
        pattern=r"^https?://",
        description="Base URL of the catalog service (http://catalog-service:8081 in a cluster).",
    )
    orders_url: str = Field(
        default="http://127.0.0.1:8082",
        pattern=r"^https?://",
        description="Base URL of the orders service (http://orders-service:8082 in a cluster).",
    )
    upstream_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Longest wait for one attempt of a call to an upstream service; a request waits at most "
        "about this times UPSTREAM_MAX_ATTEMPTS before it gets a 503.",
    )
    orders_timeout_seconds: float = Field(
        default=6.0,
        gt=0,
        le=60,
        description="Longest wait for one attempt of a call to orders. A checkout waits for orders' own calls "
        "to catalog (prices, then the reservation, each retried: ~4.5 s at orders' defaults), so this is longer "
        "than UPSTREAM_TIMEOUT_SECONDS; a slow checkout then answers instead of being cut off and replayed.",
    )
    upstream_max_attempts: int = Field(
        default=3,
        ge=1,
        le=5,
        description="Attempts per idempotent upstream call (GET, PUT, DELETE, and a checkout, which carries its "
        "Idempotency-Key); other writes try once.",
    )
    breaker_failure_threshold: int = Field(
        default=5, ge=1, le=1000, description="Consecutive upstream failures that open its circuit breaker."
    )
    breaker_reset_seconds: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="How long an open circuit answers 503 at once before one probe call is let through.",
    )
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated browser origins allowed to call the API cross-origin "
        "(https://shop.example.com,http://localhost:3000); empty = same-origin only.",
    )
    rate_limit: str = Field(
        default="1200/minute",
        description="Requests one client may make to /api/* per window, as a `limits` string "
        "(1200/minute, 20/second); 0 or off disables the limit.",
    )
    rate_limit_trusted_proxy_hops: int = Field(
        default=0,
        ge=0,
        le=10,
        description="How many X-Forwarded-For entries, counted from the right, were added by trusted proxies "
        "(1 behind one load balancer); the client is that entry, or the socket peer when 0 or the header is short.",
    )
    image_upload_max_bytes: int = Field(
        default=5 * 1024 * 1024 + 64 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest image upload body forwarded to catalog; keep it a little above catalog's "
        "IMAGE_MAX_BYTES (multipart framing adds a few hundred bytes).",
    )

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        bad = [origin for origin in origins if not _ORIGIN.match(origin)]
        if bad:
            raise ValueError(f"not an origin (scheme://host[:port], no path): {', '.join(bad)}")
        return origins

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in RATE_LIMIT_DISABLED:
            return value
        try:
            items = parse_many(value)
        except ValueError:
            items = []
        if len(items) != 1:
            raise ValueError(f"expected one limit like '1200/minute' or 'off', got {value!r}")
        return value

    @property
    def rate_limit_item(self) -> RateLimitItem | None:
        """The per-client limit, or None when it is switched off."""
        if self.rate_limit.lower() in RATE_LIMIT_DISABLED:
            return None
        return parse_many(self.rate_limit)[0]
