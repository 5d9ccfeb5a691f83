from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from catalog.api import CatalogContext, add_fast_routes, build_router
from catalog.images import ImageStorage, IoFaultingStorage, LocalImageStorage, S3ImageStorage
from catalog.read_cache import ProductReadCache
from catalog.repository import ProductRepository, ReservationRepository
from catalog.settings import CatalogSettings
from shopfloor_common.app import create_service_app
from shopfloor_common.cache import create_cache
from shopfloor_common.db import create_engine, database_check, session_factory
from shopfloor_common.faults import FaultSwitch
from shopfloor_common.health import Lifecycle


def create_image_storage(settings: CatalogSettings) -> ImageStorage:
    if settings.s3_bucket:
        return S3ImageStorage(settings.s3_bucket, settings.s3_prefix, settings.aws_region, settings.s3_endpoint_url)
    return LocalImageStorage(settings.image_dir)


def create_app(settings: CatalogSettings) -> FastAPI:
    engine = create_engine(settings)
    sessions = session_factory(engine)
    cache = create_cache(settings)
    faults = FaultSwitch.for_service(settings)
    faults.register_engine(engine)  # for hold-connections
    images = IoFaultingStorage(create_image_storage(settings), faults)
    context = CatalogContext(
        settings=settings,
        products=ProductRepository(sessions),
        reservations=ReservationRepository(engine),
        cache=cache,
        images=images,
        reads=ProductReadCache(cache, settings.cache_stock_ttl_seconds),
    )
    lifecycle = Lifecycle()
    lifecycle.add_check("database", database_check(engine))
    lifecycle.add_check("image-storage", images.check)
    # The cache is optional: a Redis outage slows reads down but never makes catalog unready. A
    # Redis that refuses the configuration (password, TLS) is reported as "degraded" instead.
    lifecycle.add_degradation("cache", cache.misconfiguration)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await cache.close()
        await engine.dispose()

    app = create_service_app(
        settings,
        title="Shopfloor catalog",
        description="Products, stock reservations and product images. Internal: reached through api-gateway.",
        lifespan=lifespan,
        lifecycle=lifecycle,
        faults=faults,
    )
    app.include_router(build_router(context))
    add_fast_routes(app, context)
    app.state.context = context
    return app
