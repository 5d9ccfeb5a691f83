"""Run a service under uvicorn with the shutdown Kubernetes expects.

SIGTERM (or Ctrl-C): /readyz turns 503 at once, the service keeps serving for
SHUTDOWN_DRAIN_SECONDS so load balancers can take it out of rotation, then the listener closes
and in-flight requests get up to SHUTDOWN_TIMEOUT_SECONDS to finish. A second Ctrl-C forces exit.

With MANAGEMENT_PORT set, a second uvicorn server in the same process and event loop serves the
operators' paths (/metrics, /livez, /readyz, /admin/faults) on that port, and PORT, the one the
Ingress and the other services reach, answers them 404 as unknown: nothing internal is on the
public edge, while Prometheus and the kubelet use the management port. It keeps answering (/readyz
503) through the drain and closes after the main server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import signal
import time
from collections.abc import Iterator
from types import FrameType
from typing import Literal

import orjson
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from shopfloor_common.health import Lifecycle
from shopfloor_common.settings import ServiceSettings

log = logging.getLogger("shopfloor.server")

# Served on the management port only (when there is one). The local edge refuses the same paths
# (shopfloor.local.edge.PRIVATE_PREFIXES; a test keeps the two lists equal).
MANAGEMENT_PREFIXES = ("/metrics", "/livez", "/readyz", "/admin/faults")


def is_management_path(path: str) -> bool:
    # //metrics is /metrics to the router: collapse repeated slashes before comparing.
    path = re.sub(r"/{2,}", "/", path)
    return any(path == prefix or path.startswith(prefix + "/") for prefix in MANAGEMENT_PREFIXES)


async def _not_found(scope: Scope, send: Send) -> None:
    from shopfloor_common.errors import PROBLEM_JSON, problem_body

    body = orjson.dumps(problem_body(404, f"no route for {scope['path']}", type_="no-route", instance=scope["path"]))
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class PathGate:
    """`app` for the paths `management` says (True: the management paths only, False: all but
    them); other paths get a problem+json 404, the answer for a route that does not exist."""

    def __init__(self, app: ASGIApp, *, management: bool) -> None:
        self.app = app
        self.management = management

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_management_path(scope["path"]) != self.management:
            await _not_found(scope, send)
            return
        await self.app(scope, receive, send)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle, drain_seconds: float) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self.drain_seconds = drain_seconds
        self._exit_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._exit_at is None:
            log.info("received %s: draining for %.1fs", signal.Signals(sig).name, self.drain_seconds)
            self.lifecycle.begin_draining()
            self._exit_at = time.monotonic() + self.drain_seconds
        elif sig == signal.SIGINT:
            self.force_exit = True

    async def on_tick(self, counter: int) -> bool:
        # uvicorn ticks every 0.1s; this is where the drain period ends.
        if self._exit_at is not None and time.monotonic() >= self._exit_at:
            self.should_exit = True
        return await super().on_tick(counter)


class ManagementServer(uvicorn.Server):
    """The management port's server: the main server owns the signals and the app's lifespan."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _config(
    app: ASGIApp, settings: ServiceSettings, port: int, lifespan: Literal["auto", "off"] = "auto"
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        log_config=None,  # configure_logging() already routed uvicorn's records to JSON
        access_log=False,
        # Rounded up: int() made 0.5 into 0, and a zero timeout cancels every in-flight request.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_seconds),
        server_header=False,
        # X-Forwarded-For is written by clients as much as by proxies: trusting it here would let
        # anyone choose their logged address and rate-limit bucket. The gateway reads it itself,
        # counting only RATE_LIMIT_TRUSTED_PROXY_HOPS from the right.
        proxy_headers=False,
        lifespan=lifespan,
    )


def serve(app: ASGIApp, settings: ServiceSettings, lifecycle: Lifecycle) -> None:
    if settings.management_port is None:
        DrainingServer(_config(app, settings, settings.port), lifecycle, settings.shutdown_drain_seconds).run()
        return
    config = _config(PathGate(app, management=False), settings, settings.port)
    main = DrainingServer(config, lifecycle, settings.shutdown_drain_seconds)
    # lifespan off: the app's resources open once, under the main server.
    management = ManagementServer(
        _config(PathGate(app, management=True), settings, settings.management_port, lifespan="off")
    )

    async def both() -> None:
        management_task = asyncio.create_task(management.serve())
        try:
            await main.serve()
        finally:
            management.should_exit = True
            await management_task

    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(both())
