"""A minimal forwarding hop for `shopfloor bench --compare-clients`: the same FastAPI route in front
of catalog, forwarding with either the services' client (shopfloor_common.client.ServiceClient,
aiohttp) or httpx's default transport, so the two can be measured side by side in one k6 run.

    FORWARDER_CLIENT=aiohttp|httpx UPSTREAM_URL=http://127.0.0.1:8081 PORT=9000 python -m shopfloor.measure.forwarder
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response

Fetch = Callable[[str], Awaitable[tuple[int, bytes, str]]]


def create_forwarder(client_kind: str, upstream: str) -> FastAPI:
    fetch: Fetch | None = None
    close: Callable[[], Awaitable[None]] | None = None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        nonlocal fetch, close
        if client_kind == "httpx":
            import httpx

            # The defaults a service would get from `httpx.AsyncClient()`, with the pool raised to
            # the aiohttp client's 100 connections so only the transport differs.
            client = httpx.AsyncClient(base_url=upstream, timeout=2.0, limits=httpx.Limits(max_connections=100))

            async def fetch_httpx(path: str) -> tuple[int, bytes, str]:
                response = await client.get(path)
                return response.status_code, response.content, response.headers.get("content-type", "")

            fetch, close = fetch_httpx, client.aclose
        else:
            from shopfloor_common.client import ServiceClient

            service = ServiceClient("catalog", upstream)

            async def fetch_aiohttp(path: str) -> tuple[int, bytes, str]:
                response = await service.request("GET", path)
                return response.status, response.body, response.content_type

            fetch, close = fetch_aiohttp, service.close
        yield
        await close()

    app = FastAPI(lifespan=lifespan, openapi_url=None)

    @app.get("/products/{sku}")
    async def product(sku: str) -> Response:
        assert fetch is not None
        status, body, content_type = await fetch(f"/products/{sku}")
        return Response(body, status_code=status, media_type=content_type)

    return app


def main() -> None:
    client_kind = os.environ.get("FORWARDER_CLIENT", "aiohttp")
    if client_kind not in {"aiohttp", "httpx"}:
        raise SystemExit(f"FORWARDER_CLIENT must be aiohttp or httpx, got {client_kind!r}")
    app = create_forwarder(client_kind, os.environ["UPSTREAM_URL"])

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
