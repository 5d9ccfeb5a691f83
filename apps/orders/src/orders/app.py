from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from orders.api import add_fast_routes, build_router
from orders.catalog_client import CatalogStock
from orders.reconciler import Reconciler
from orders.repository import OrderRepository
from orders.service import OrderService
from orders.settings import OrdersSettings
from shopfloor_common.app import create_service_app
from shopfloor_common.client import ClientPolicy, ServiceClient
from shopfloor_common.db import create_engine, database_check
from shopfloor_common.faults import FaultSwitch
from shopfloor_common.health import Lifecycle

RECONCILER_STOP_SECONDS = 2.0


def catalog_client(settings: OrdersSettings) -> ServiceClient:
    return ServiceClient(
        "catalog",
        settings.catalog_url,
        ClientPolicy(
            timeout_seconds=settings.catalog_timeout_seconds,
            max_attempts=settings.catalog_max_attempts,
            breaker_failure_threshold=settings.catalog_breaker_failure_threshold,
            breaker_reset_seconds=settings.catalog_breaker_reset_seconds,
        ),
    )


def create_app(settings: OrdersSettings) -> FastAPI:
    engine = create_engine(settings)
    faults = FaultSwitch.for_service(settings)
    faults.register_engine(engine)  # for hold-connections
    orders = OrderRepository(engine)
    client = catalog_client(settings)
    service = OrderService(orders, CatalogStock(client), settings)
    reconciler = Reconciler(service, orders, settings)
    lifecycle = Lifecycle()
    lifecycle.add_check("database", database_check(engine))
    # catalog is not a readiness check: an orders replica that cannot reach catalog still serves
    # reads and cancels, and taking every replica out of rotation would turn a catalog outage into
    # an orders outage. Checkouts answer 503 (price lookup) or 202 (reservation) meanwhile.

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(reconciler.run_forever(stop), name="orders-reconciler")
        try:
            yield
        finally:
            stop.set()
            # A pass cut short is safe: its claims expire and catalog's idempotency covers any call in flight.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, RECONCILER_STOP_SECONDS)
            await client.close()
            await engine.dispose()

    app = create_service_app(
        settings,
        title="Shopfloor orders",
        description="Idempotent checkout, the order lifecycle and stock reservations at catalog. Internal: reached "
        "through api-gateway.",
        lifespan=lifespan,
        lifecycle=lifecycle,
        faults=faults,
    )
    app.include_router(build_router(service, settings))
    add_fast_routes(app, service)
    app.state.service = service
    app.state.reconciler = reconciler
    return app
