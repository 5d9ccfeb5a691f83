from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from shopfloor_common.settings import AdminSettings, DatabaseSettings, ServiceSettings


class OrdersSettings(ServiceSettings, DatabaseSettings, AdminSettings):
    service_name: str = Field(default="orders", description="Name used in logs and metrics.")
    port: int = Field(default=8082, ge=1, le=65535, description="TCP port to listen on.")
    database_url: str = Field(
        default="sqlite+aiosqlite:///var/local/orders.db",
        description="SQLAlchemy URL of the orders database (SQLite file locally, PostgreSQL in clusters).",
    )
    catalog_url: str = Field(
        default="http://127.0.0.1:8081",
        pattern=r"^https?://",
        description="Base URL of the catalog service, which holds prices and stock (http://catalog-service:8081 in "
        "a cluster).",
    )
    catalog_timeout_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Longest wait for one attempt of a call to catalog. A checkout makes two calls (prices, then "
        "the reservation), each tried up to CATALOG_MAX_ATTEMPTS times.",
    )
    catalog_max_attempts: int = Field(
        default=2,
        ge=1,
        le=5,
        description="Attempts per call to catalog; every call orders makes is idempotent, so all are retried.",
    )
    catalog_breaker_failure_threshold: int = Field(
        default=5, ge=1, le=1000, description="Consecutive failed calls to catalog that open its circuit breaker."
    )
    catalog_breaker_reset_seconds: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="How long an open circuit to catalog fails calls at once before one probe call is let through.",
    )
    reconcile_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often the reconciler looks for orders to finish: PENDING orders older than "
        "PENDING_TIMEOUT_SECONDS, and cancelled orders whose stock catalog has not confirmed released.",
    )
    pending_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Age at which the reconciler takes over a PENDING order (its checkout request crashed or "
        "catalog did not answer). Must exceed CATALOG_TIMEOUT_SECONDS x CATALOG_MAX_ATTEMPTS, the longest a "
        "checkout waits for its reservation.",
    )
    release_settle_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86400,
        description="After an order is cancelled, how long catalog's 'no reservation for this order' is checked "
        "again, in case a reservation sent just before a crash reaches catalog late.",
    )
    reconcile_batch_size: int = Field(
        default=50, ge=1, le=1000, description="Most orders one reconciler pass takes on (per replica)."
    )

    @model_validator(mode="after")
    def _reconciler_waits_for_checkouts(self) -> Self:
        # Otherwise the reconciler would start reserving orders whose checkout request is still
        # waiting for catalog: harmless (reservations are idempotent) but wasted, doubled calls.
        longest_checkout_wait = self.catalog_timeout_seconds * self.catalog_max_attempts
        if self.pending_timeout_seconds <= longest_checkout_wait:
            raise ValueError(
                f"PENDING_TIMEOUT_SECONDS ({self.pending_timeout_seconds:g}) must exceed CATALOG_TIMEOUT_SECONDS x "
                f"CATALOG_MAX_ATTEMPTS ({longest_checkout_wait:g})"
            )
        return self
