"""The local edge router: http://localhost:8000 routed exactly like the cluster Ingress.

The longest matching path prefix wins (`/api` -> api-gateway before `/` -> frontend), the path is
passed on unchanged (the services serve under their prefix, as behind the Ingress), request and
response bodies stream through without being buffered, headers are kept (hop-by-hop ones
dropped) and X-Forwarded-For/-Proto/-Host/-Port are added. X-Request-ID passes through so a
request can be followed across the edge and the services. An upstream that does not answer
gives a problem+json 502 (refused/reset) or 504 (timed out), as an Ingress controller would.

Paths only operators, Prometheus and the kubelet call (/metrics, /livez, /readyz and the fault
switch's /admin/faults) are answered 404 as unrouted: `/` would otherwise carry them to the
frontend. In a cluster the services serve them on their management port (MANAGEMENT_PORT,
shopfloor_common.server), which the Ingress never targets; locally each service serves them on its
one port, so the edge is what keeps them private.

When no service claims `/` (there is no frontend yet), `/` answers a small page that lists the
routes, so a person opening http://localhost:8000 sees where to go.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

log = logging.getLogger("shopfloor.local.edge")

# RFC 9110 7.6.1: meaningful for one connection only, never forwarded by a proxy.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

# Never forwarded: the services serve these to operators on their own ports only. The same list as
# shopfloor_common.server.MANAGEMENT_PREFIXES (a test keeps them equal; not imported, because that
# module pulls in uvicorn and the edge starts before every service).
PRIVATE_PREFIXES = ("/metrics", "/livez", "/readyz", "/admin/faults")


def is_private(path: str) -> bool:
    path = re.sub(r"/{2,}", "/", path)
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PRIVATE_PREFIXES)


@dataclass(frozen=True)
class Route:
    prefix: str  # "/api", "/"
    upstream: str  # "http://127.0.0.1:8080"
    name: str  # the service, for messages

    def matches(self, path: str) -> bool:
        # Ingress pathType Prefix matches whole path elements: /api matches /api and /api/x, not /apix.
        stem = self.prefix.rstrip("/")
        return stem == "" or path == stem or path.startswith(stem + "/")


def match_route(routes: Iterable[Route], path: str) -> Route | None:
    """The route with the longest prefix that matches `path`, as an Ingress chooses."""
    for route in sorted(routes, key=lambda r: len(r.prefix.rstrip("/")), reverse=True):
        if route.matches(path):
            return route
    return None


def _connection_tokens(headers: CIMultiDict[str]) -> set[str]:
    values = headers.getall("Connection", [])
    return {token.strip().lower() for value in values for token in value.split(",") if token.strip()}


def forwarded_request_headers(request: web.Request) -> CIMultiDict[str]:
    incoming = CIMultiDict(request.headers)
    dropped = HOP_BY_HOP | _connection_tokens(incoming)
    headers: CIMultiDict[str] = CIMultiDict((k, v) for k, v in incoming.items() if k.lower() not in dropped)
    client = request.remote or ""
    previous = incoming.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{previous}, {client}" if previous else client
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    port = request.url.port
    if port is not None:
        headers["X-Forwarded-Port"] = str(port)
    return headers


def _response_headers(upstream: aiohttp.ClientResponse) -> CIMultiDict[str]:
    incoming = CIMultiDict(upstream.headers)
    dropped = HOP_BY_HOP | _connection_tokens(incoming)
    return CIMultiDict((k, v) for k, v in incoming.items() if k.lower() not in dropped)


def _problem(
    status: int, detail: str, type_: str, request: web.Request, headers: dict[str, str] | None = None
) -> web.Response:
    # Imported on first use: shopfloor_common.errors pulls in FastAPI, which would add a third
    # of a second to every `shopfloor run` start before the first service could begin.
    from shopfloor_common.errors import PROBLEM_JSON, problem_body

    body = problem_body(status, detail, type_=type_, instance=request.path)
    request_id = request.headers.get("X-Request-ID")
    if request_id:
        body["request_id"] = request_id
    return web.Response(status=status, body=orjson.dumps(body), content_type=PROBLEM_JSON, headers=headers)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def index_page(routes: Sequence[Route], links: Sequence[tuple[str, str]]) -> str:
    route_items = "\n".join(
        f"<li><code>{html.escape(r.prefix)}</code> &rarr; {html.escape(r.name)} "
        f"(<code>{html.escape(r.upstream)}</code>)</li>"
        for r in sorted(routes, key=lambda r: r.prefix)
    )
    link_items = "\n".join(
        f'<li><a href="{html.escape(href)}">{html.escape(label)}</a> <code>{html.escape(href)}</code></li>'
        for label, href in links
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shopfloor (local)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5}}</style>
</head><body>
<h1>Shopfloor, running locally</h1>
<p>No service serves <code>/</code> yet (the frontend arrives later), so the edge router answers here.</p>
<h2>Try</h2>
<ul>
{link_items}
</ul>
<h2>Routes</h2>
<ul>
{route_items}
</ul>
</body></html>
"""


class EdgeRouter:
    """An aiohttp reverse proxy over a fixed set of routes."""

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        index_links: Sequence[tuple[str, str]] = (),
        connect_timeout_seconds: float = 2.0,
        read_timeout_seconds: float = 300.0,
        starting: bool = False,
        report: Callable[[str], None] | None = None,
    ) -> None:
        """`starting`: answer 503 "still starting" (no upstream call) on every route until `open()`,
        which the local stack calls once every service is ready: a shop that is half up (the
        gateway serving while catalog still migrates) would answer 503s from deep inside instead.
        `report`: where to say, in one line each, that a request could not be completed (an
        upstream failed, a client hung up) or was refused while starting (default: the log)."""
        self.routes = list(routes)
        self.starting = starting
        self.report = report or log.warning
        self._told_starting = False
        self.index_links = list(index_links)
        self.connect_timeout_seconds = connect_timeout_seconds
        self.read_timeout_seconds = read_timeout_seconds
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def application(self) -> web.Application:
        app = web.Application(handler_args={"max_field_size": 16384})
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    def open(self) -> None:
        """Stop answering "starting": every route forwards from now on."""
        self.starting = False

    async def _open(self, _app: web.Application) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256),
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self.connect_timeout_seconds, sock_read=self.read_timeout_seconds
            ),
            auto_decompress=False,  # bytes pass through as the upstream encoded them
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar(),  # a proxy must not keep the users' cookies
        )

    async def _close(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port (port 0 picks a free one, then `self.port` tells which)."""
        self._runner = web.AppRunner(self.application(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        route = None if is_private(request.path) else match_route(self.routes, request.path)
        if route is None:
            if request.path == "/" and request.method in {"GET", "HEAD"}:
                return web.Response(text=index_page(self.routes, self.index_links), content_type="text/html")
            return _problem(404, f"no route for {request.path}", "no-route", request)
        if self.starting:
            if not self._told_starting:
                self._told_starting = True
                self.report(f"{request.method} {request.path}: answering 503 'starting' until every service is ready")
            return _problem(
                503, "the shop is still starting; try again in a moment", "starting", request, {"Retry-After": "1"}
            )
        assert self._session is not None, "the session opens on startup"
        target = URL(route.upstream + request.rel_url.raw_path_qs, encoded=True)
        body = request.content if request.body_exists else None
        response: web.StreamResponse | None = None
        try:
            async with self._session.request(
                request.method,
                target,
                headers=forwarded_request_headers(request),
                data=body,
                allow_redirects=False,
            ) as upstream:
                response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                response.headers.extend(_response_headers(upstream))
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else _describe(exc)
            if response is not None and response.prepared:
                # The answer had begun. A client that hung up needs nothing more; when the
                # upstream broke off instead, all a proxy can do is cut the client off too.
                # Either way one line, not a traceback per dropped download.
                client_gone = request.transport is None or request.transport.is_closing()
                if client_gone:
                    self.report(f"{request.method} {request.path}: the client hung up before the answer was complete")
                else:
                    self.report(
                        f"{request.method} {request.path} -> {route.name}: {reason} after the answer began; "
                        "closing the client's connection"
                    )
                    request.transport.close()  # type: ignore[union-attr]
                return response
            self.report(f"{request.method} {request.path} -> {route.name}: {reason}")
            if isinstance(exc, TimeoutError):
                return _problem(
                    504, f"{route.name} did not answer in time ({route.upstream})", "upstream-timeout", request
                )
            return _problem(
                502,
                f"{route.name} is not answering at {route.upstream} ({type(exc).__name__})",
                "upstream-unavailable",
                request,
            )


async def run_edge_forever(routes: Sequence[tuple[str, str]], port: int, host: str = "127.0.0.1") -> int:
    """`shopfloor edge`: the router alone, until SIGINT/SIGTERM."""
    edge = EdgeRouter([Route(prefix, url, f"the upstream of {prefix}") for prefix, url in routes])
    try:
        await edge.start(host, port)
    except OSError as exc:
        print(f"edge: cannot listen on {host}:{port}: {exc.strerror}")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"edge router on http://localhost:{edge.port}: " + ", ".join(f"{p} -> {u}" for p, u in routes))
    await stop.wait()
    await edge.stop()
    return 0
