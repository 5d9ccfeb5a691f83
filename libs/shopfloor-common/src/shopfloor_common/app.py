"""One way to build a service: every contract of docs/architecture.md wired in one call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from shopfloor_common.errors import document_problems, install_error_handlers
from shopfloor_common.faults import FaultMiddleware, FaultSwitch, faults_router
from shopfloor_common.health import Lifecycle, health_router
from shopfloor_common.logs import configure_logging
from shopfloor_common.observability import ObservabilityMiddleware, metrics_endpoint
from shopfloor_common.settings import ServiceSettings

QUIET_PATHS = frozenset({"/livez", "/readyz", "/metrics"})

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str = "",
    lifespan: Lifespan | None = None,
    lifecycle: Lifecycle | None = None,
    faults: FaultSwitch | None = None,
    **fastapi_kwargs: Any,
) -> FastAPI:
    """A FastAPI app with JSON logs, request ids, metrics, health, problem+json errors and the
    fault switch.

    `lifespan` opens and closes the service's own resources; `lifecycle` carries its readiness
    checks and is stored on `app.state.lifecycle` for the server's SIGTERM handling. `faults` is
    the service's fault switch when it made one first (to register its database engine or its
    image store with it); otherwise one is made from the settings. It is `app.state.faults`.
    """
    configure_logging(settings.service_name, settings.log_level)
    lifecycle = lifecycle or Lifecycle()
    faults = faults or FaultSwitch.for_service(settings)
    faults.attach(lifecycle)

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        if lifespan is None:
            async with _faults_held(faults):
                yield
        else:
            async with lifespan(app), _faults_held(faults):
                yield

    # Swagger UI served from the package, not a CDN: the docs work offline and under a strict CSP.
    docs_url = fastapi_kwargs.pop("docs_url", "/docs")
    fastapi_kwargs.pop("redoc_url", None)  # one docs UI is enough
    static_url = docs_url.rsplit("/", 1)[0] + "/docs-assets" if docs_url else "/docs-assets"
    app = FastAPIOffline(
        docs_url=docs_url,
        redoc_url=None,
        static_url=static_url,
        title=title,
        description=description,
        lifespan=run,
        **fastapi_kwargs,
    )
    app.state.lifecycle = lifecycle
    app.state.settings = settings
    app.state.faults = faults
    install_error_handlers(app)
    _document_problems_in_openapi(app)
    app.include_router(health_router(lifecycle))
    app.include_router(faults_router(faults))
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    if faults.refusal is None:
        # Added first, so it runs inside the observability middleware: injected errors and
        # delays are counted and logged like real ones. Where faults are refused it is not there.
        app.add_middleware(FaultMiddleware, switch=faults, routes=lambda: app.router.routes)
    app.add_middleware(ObservabilityMiddleware, access_log_enabled=settings.access_log, skip_paths=QUIET_PATHS)
    return app


@asynccontextmanager
async def _faults_held(faults: FaultSwitch) -> AsyncIterator[None]:
    """SHOPFLOOR_FAULTS on once the service's resources are open; every fault off (held
    connections back in the pool) before they close."""
    await faults.start()
    try:
        yield
    finally:
        await faults.clear("shutting down")


def _document_problems_in_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
