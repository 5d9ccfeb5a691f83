"""Run a service under uvicorn with the shutdown Kubernetes expects.

SIGTERM (or Ctrl-C): /readyz turns 503 at once, the service keeps serving for
SHUTDOWN_DRAIN_SECONDS so load balancers can take it out of rotation, then the listener closes
and in-flight requests get up to SHUTDOWN_TIMEOUT_SECONDS to finish. A second Ctrl-C forces exit.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from shopfloor_common.health import Lifecycle
from shopfloor_common.settings import ServiceSettings

log = logging.getLogger("shopfloor.server")


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


def serve(app: ASGIApp, settings: ServiceSettings, lifecycle: Lifecycle) -> None:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # configure_logging() already routed uvicorn's records to JSON
        access_log=False,
        # Rounded up: int() made 0.5 into 0, and a zero timeout cancels every in-flight request.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_seconds),
        server_header=False,
        # X-Forwarded-For is written by clients as much as by proxies: trusting it here would let
        # anyone choose their logged address and rate-limit bucket. The gateway reads it itself,
        # counting only RATE_LIMIT_TRUSTED_PROXY_HOPS from the right.
        proxy_headers=False,
    )
    DrainingServer(config, lifecycle, settings.shutdown_drain_seconds).run()
