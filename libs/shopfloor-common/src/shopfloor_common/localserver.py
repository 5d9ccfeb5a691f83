"""Loopback helpers for tests, benchmarks and the local runner: a free port, and an ASGI app
served by uvicorn in a background thread that can be stopped and started again on the same port
(which is how a test takes a dependency away and brings it back)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

LOCAL_HOST = "127.0.0.1"


def free_port(host: str = LOCAL_HOST) -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ThreadedServer:
    """uvicorn serving `app` on LOCAL_HOST:`port` in a daemon thread."""

    def __init__(
        self,
        port: int | None = None,
        *,
        lifespan: Literal["auto", "on", "off"] = "off",
        start_timeout_seconds: float = 15.0,
    ) -> None:
        self.port = port or free_port()
        self.lifespan = lifespan
        self.start_timeout_seconds = start_timeout_seconds
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{LOCAL_HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def serve(self, app: ASGIApp) -> None:
        """Start serving `app`; returns once uvicorn accepts connections."""
        sock = socket.socket()
        # The port may still be in TIME_WAIT from the previous start.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOCAL_HOST, self.port))
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan=self.lifespan, timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + self.start_timeout_seconds
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread

    def shutdown(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None
