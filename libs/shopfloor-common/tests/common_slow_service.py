"""A real service with a slow endpoint, started as its own process by test_common_server.py.

`/slow` holds the request until draining begins, then through the whole drain and a little
beyond, so the request is certainly in flight when the listener closes.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request

from shopfloor_common.app import create_service_app
from shopfloor_common.service_cli import run_service_cli
from shopfloor_common.settings import ServiceSettings

SLOW_BEYOND_DRAIN_SECONDS = 0.3


def create_app(settings: ServiceSettings) -> FastAPI:
    app = create_service_app(settings, title="slow test service")

    @app.get("/slow")
    async def slow(request: Request) -> dict[str, bool]:
        lifecycle = request.app.state.lifecycle
        while not lifecycle.draining:
            await asyncio.sleep(0.01)
        await asyncio.sleep(settings.shutdown_drain_seconds + SLOW_BEYOND_DRAIN_SECONDS)
        return {"finished": True}

    return app


if __name__ == "__main__":
    run_service_cli("slow-service", ServiceSettings, create_app)
