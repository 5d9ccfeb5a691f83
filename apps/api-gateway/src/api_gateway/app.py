"""The api-gateway: the public REST API under /api, forwarding to catalog and orders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from api_gateway.proxy import UpstreamProxy
from api_gateway.ratelimit import RateLimitMiddleware, create_rate_limiter
from api_gateway.routes import API_PREFIX, add_fast_routes, orders_router, products_router
from api_gateway.settings import GatewaySettings
from shopfloor_common.app import create_service_app
from shopfloor_common.client import ClientPolicy, ServiceClient
from shopfloor_common.health import Lifecycle

CORS_ALLOWED_HEADERS = ["X-API-Key", "Content-Type", "Idempotency-Key", "X-Request-ID"]
CORS_EXPOSED_HEADERS = [
    "X-Request-ID",
    "Location",
    "Idempotent-Replayed",
    "Retry-After",
    "RateLimit-Policy",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
]


def create_app(settings: GatewaySettings) -> FastAPI:
    policy = ClientPolicy(
        timeout_seconds=settings.upstream_timeout_seconds,
        connect_timeout_seconds=min(0.5, settings.upstream_timeout_seconds),
        max_attempts=settings.upstream_max_attempts,
        breaker_failure_threshold=settings.breaker_failure_threshold,
        breaker_reset_seconds=settings.breaker_reset_seconds,
    )
    # One client (and so one circuit breaker) per upstream: orders being down must not open the
    # circuit to catalog, and the product pages keep working while checkout is unavailable.
    catalog = ServiceClient("catalog", settings.catalog_url, policy)
    orders_policy = replace(policy, timeout_seconds=settings.orders_timeout_seconds)
    orders = ServiceClient("orders", settings.orders_url, orders_policy)
    rate_limiter = create_rate_limiter(settings)

    # No readiness checks, deliberately: if /readyz followed an upstream, a catalog outage would take
    # every gateway pod out of rotation and clients would get connection errors from the edge
    # instead of the gateway's 503 problem+json (and the breaker could never see catalog return).
    # The gateway is ready when it can answer; /readyz still turns 503 on SIGTERM.
    lifecycle = Lifecycle()
    if rate_limiter is not None:
        # Not a check: the limit fails open. But a Redis refusing our password or certificate means
        # prod runs without a rate limit, so /readyz says so ("degraded"), as do the logs and metrics.
        lifecycle.add_degradation("rate-limit", rate_limiter.misconfiguration)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if rate_limiter is not None:
            await rate_limiter.open()
        try:
            yield
        finally:
            await catalog.close()
            await orders.close()
            if rate_limiter is not None:
                await rate_limiter.close()

    app = create_service_app(
        settings,
        title="Shopfloor API",
        description="The public REST API of Shopfloor. Admin operations need the X-API-Key header.",
        lifespan=lifespan,
        lifecycle=lifecycle,
        docs_url=f"{API_PREFIX}/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
        redoc_url=None,
    )
    catalog_proxy = UpstreamProxy(catalog, API_PREFIX)
    orders_proxy = UpstreamProxy(orders, API_PREFIX)
    app.include_router(products_router(catalog_proxy, settings.image_upload_max_bytes))
    app.include_router(orders_router(orders_proxy))
    add_fast_routes(app, catalog_proxy, orders_proxy)

    # Appended, so both sit inside the observability middleware create_service_app added: CORS
    # preflights and 429s then carry X-Request-ID and are counted in the metrics, and CORS sits
    # outside the rate limit so a browser can read a 429's Retry-After.
    if settings.cors_allow_origins:
        app.user_middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_allow_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=CORS_ALLOWED_HEADERS,
                expose_headers=CORS_EXPOSED_HEADERS,
                max_age=600,
            )
        )
    if rate_limiter is not None:
        app.user_middleware.append(
            Middleware(
                RateLimitMiddleware,
                limiter=rate_limiter,
                trusted_proxy_hops=settings.rate_limit_trusted_proxy_hops,
                prefix=API_PREFIX,
            )
        )
    return app
