"""The edge router alone, in front of small aiohttp upstreams: routing like the Ingress, headers,
streaming bodies both ways, and problem+json when an upstream is missing."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from shopfloor.local.edge import EdgeRouter, Route, match_route
from shopfloor_common.localserver import free_port

BIG = bytes(range(256)) * 8192  # 2 MiB: larger than any socket buffer, so it must stream
UPSTREAM_NAME = web.AppKey("upstream_name", str)


async def echo(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    if request.path.endswith("/big"):
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        for start in range(0, len(BIG), 65536):
            await response.write(BIG[start : start + 65536])
        await response.write_eof()
        return response
    response = web.json_response(
        {
            "upstream": request.app[UPSTREAM_NAME],
            "method": request.method,
            "path_qs": request.rel_url.raw_path_qs,
            "headers": dict(request.headers.items()),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body_length": len(body),
        }
    )
    response.headers.add("Set-Cookie", "a=1")
    response.headers.add("Set-Cookie", "b=2")
    return response


Upstream = Callable[[str], Awaitable[str]]


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    runners: list[web.AppRunner] = []

    async def start(name: str) -> str:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app[UPSTREAM_NAME] = name
        app.router.add_route("*", "/{tail:.*}", echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def start_edge(
    routes: list[Route], *, starting: bool = False, report: Callable[[str], None] | None = None
) -> EdgeRouter:
    edge = EdgeRouter(routes, index_links=[("Products", "/api/products")], starting=starting, report=report)
    await edge.start("127.0.0.1", 0)
    return edge


def test_longest_prefix_wins_and_prefixes_match_whole_path_elements() -> None:
    routes = [Route("/", "http://f", "frontend"), Route("/api", "http://g", "api-gateway")]

    def routed(path: str, among: list[Route] = routes) -> str | None:
        route = match_route(among, path)
        return route.name if route else None

    assert routed("/api/products") == "api-gateway"
    assert routed("/api") == "api-gateway"
    assert routed("/api/") == "api-gateway"
    assert routed("/apiary") == "frontend"
    assert routed("/") == "frontend"
    assert routed("/apiary", routes[1:]) is None


async def test_routes_to_the_longest_prefix_with_path_and_query_unchanged(
    upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    frontend, gateway = await upstream("frontend"), await upstream("gateway")
    edge = await start_edge([Route("/", frontend, "frontend"), Route("/api", gateway, "api-gateway")])
    try:
        base = f"http://127.0.0.1:{edge.port}"
        async with client.get(f"{base}/api/products?q=mug%20cup&limit=2") as response:
            answer = await response.json()
        assert answer["upstream"] == "gateway"
        assert answer["path_qs"] == "/api/products?q=mug%20cup&limit=2"
        async with client.get(f"{base}/apiary") as response:
            assert (await response.json())["upstream"] == "frontend"
        async with client.get(f"{base}/") as response:
            assert (await response.json())["upstream"] == "frontend"
    finally:
        await edge.stop()


async def test_the_fault_switch_paths_are_never_forwarded(upstream: Upstream, client: aiohttp.ClientSession) -> None:
    # `/` goes to the frontend, whose /admin/faults must not become public through the edge.
    frontend = await upstream("frontend")
    edge = await start_edge([Route("/", frontend, "frontend")])
    try:
        base = f"http://127.0.0.1:{edge.port}"
        for path in ["/admin/faults", "/admin/faults/errors", "//admin//faults/latency", "/admin/%66aults"]:
            async with client.put(f"{base}{path}", json={"ratio": 1}) as response:
                assert response.status == 404, path
                assert (await response.json())["type"].endswith("/no-route")
        async with client.get(f"{base}/admin/faultsy") as response:
            assert (await response.json())["upstream"] == "frontend"  # whole path elements only
    finally:
        await edge.stop()


async def test_metrics_and_health_are_never_forwarded(upstream: Upstream, client: aiohttp.ClientSession) -> None:
    # `curl http://localhost:8000/metrics` used to answer the frontend's metrics through `/`.
    frontend, gateway = await upstream("frontend"), await upstream("gateway")
    edge = await start_edge([Route("/", frontend, "frontend"), Route("/api", gateway, "api-gateway")])
    try:
        base = f"http://127.0.0.1:{edge.port}"
        for path in ["/metrics", "/livez", "/readyz", "//metrics", "/readyz/", "/%6Civez", "/metrics?name[]=up"]:
            for method in ("GET", "HEAD", "POST"):
                async with client.request(method, f"{base}{path}") as response:
                    assert response.status == 404, (method, path)
                    assert response.content_type == "application/problem+json"
                    if method != "HEAD":
                        assert (await response.json())["type"].endswith("/no-route")
        for public in ["/metricsx", "/api/readyz", "/products/livez"]:
            async with client.get(f"{base}{public}") as response:
                assert response.status == 200, public  # whole path elements at the root only
    finally:
        await edge.stop()


def test_edge_and_services_keep_the_same_private_paths() -> None:
    from shopfloor.local.edge import PRIVATE_PREFIXES
    from shopfloor_common.server import MANAGEMENT_PREFIXES

    assert set(PRIVATE_PREFIXES) == set(MANAGEMENT_PREFIXES)


async def test_forwards_headers_and_adds_x_forwarded(upstream: Upstream, client: aiohttp.ClientSession) -> None:
    gateway = await upstream("gateway")
    edge = await start_edge([Route("/api", gateway, "api-gateway")])
    try:
        async with client.get(
            f"http://127.0.0.1:{edge.port}/api/x",
            headers={
                "X-Request-ID": "req-123",
                "X-API-Key": "secret-key-value",
                "X-Forwarded-For": "203.0.113.9",
                "Connection": "keep-alive, X-Hop",
                "X-Hop": "must not pass",
            },
        ) as response:
            answer = await response.json()
            cookies = response.headers.getall("Set-Cookie")
        headers = answer["headers"]
        assert headers["X-Request-ID"] == "req-123"
        assert headers["X-API-Key"] == "secret-key-value"
        assert headers["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
        assert headers["X-Forwarded-Proto"] == "http"
        assert headers["X-Forwarded-Host"] == f"127.0.0.1:{edge.port}"
        assert headers["Host"] == f"127.0.0.1:{edge.port}"
        assert "X-Hop" not in headers
        assert cookies == ["a=1", "b=2"]
    finally:
        await edge.stop()


async def test_streams_request_and_response_bodies(upstream: Upstream, client: aiohttp.ClientSession) -> None:
    gateway = await upstream("gateway")
    edge = await start_edge([Route("/api", gateway, "api-gateway")])
    try:
        base = f"http://127.0.0.1:{edge.port}"

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(BIG), 100_000):
                yield BIG[start : start + 100_000]

        # A chunked upload (no Content-Length) and a sized one both arrive whole.
        async with client.post(f"{base}/api/upload", data=chunks()) as response:
            answer = await response.json()
        assert answer["body_length"] == len(BIG)
        assert answer["body_sha256"] == hashlib.sha256(BIG).hexdigest()
        async with client.put(f"{base}/api/upload", data=BIG) as response:
            assert (await response.json())["body_length"] == len(BIG)
        async with client.get(f"{base}/api/big") as response:
            assert response.status == 200
            assert await response.read() == BIG
    finally:
        await edge.stop()


async def test_upstream_down_is_a_502_problem(client: aiohttp.ClientSession) -> None:
    edge = await start_edge([Route("/api", f"http://127.0.0.1:{free_port()}", "api-gateway")])
    try:
        async with client.get(
            f"http://127.0.0.1:{edge.port}/api/products", headers={"X-Request-ID": "r-1"}
        ) as response:
            assert response.status == 502
            assert response.content_type == "application/problem+json"
            problem = await response.json(content_type=None)
        assert problem["status"] == 502
        assert "api-gateway" in problem["detail"]
        assert problem["request_id"] == "r-1"
    finally:
        await edge.stop()


async def test_answers_503_starting_on_every_route_until_opened_and_says_so_once(
    upstream: Upstream, client: aiohttp.ClientSession
) -> None:
    gateway, frontend = await upstream("gateway"), await upstream("frontend")
    said: list[str] = []
    edge = await start_edge(
        [Route("/api", gateway, "api-gateway"), Route("/", frontend, "frontend")], starting=True, report=said.append
    )
    try:
        base = f"http://127.0.0.1:{edge.port}"
        for path in ("/api/products", "/", "/api/orders"):
            async with client.get(base + path) as response:
                assert response.status == 503
                assert response.headers["Retry-After"] == "1"
                assert response.content_type == "application/problem+json"
                assert (await response.json())["detail"].startswith("the shop is still starting")
        assert len(said) == 1, said
        assert "starting" in said[0]
        edge.open()
        for path in ("/api/products", "/"):
            async with client.get(base + path) as response:
                assert response.status == 200
    finally:
        await edge.stop()


async def test_a_client_hanging_up_mid_download_is_one_line_not_a_traceback(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    """The 2 MiB answer streams through; the client reads its head and closes the socket."""
    gateway = await upstream("gateway")
    said: list[str] = []
    edge = await start_edge([Route("/api", gateway, "api-gateway")], report=said.append)
    try:
        with caplog.at_level("DEBUG"):
            for _ in range(3):
                reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
                writer.write(b"GET /api/big HTTP/1.1\r\nHost: localhost\r\n\r\n")
                assert (await reader.read(4096)).startswith(b"HTTP/1.1 200")
                writer.transport.abort()  # hang up, as a closed browser tab does
            # The edge notices while it writes the rest of each answer.
            for _ in range(200):
                if len(said) >= 3:
                    break
                await asyncio.sleep(0.02)
        assert len(said) == 3, said
        assert all("the client hung up" in line for line in said), said
        tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
        assert not tracebacks, [r.getMessage() for r in tracebacks]
    finally:
        await edge.stop()


async def test_root_lists_routes_when_no_service_claims_it(upstream: Upstream, client: aiohttp.ClientSession) -> None:
    gateway = await upstream("gateway")
    edge = await start_edge([Route("/api", gateway, "api-gateway")])
    try:
        base = f"http://127.0.0.1:{edge.port}"
        async with client.get(f"{base}/") as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            page = await response.text()
        assert 'href="/api/products"' in page
        assert "api-gateway" in page
        async with client.get(f"{base}/elsewhere") as response:
            assert response.status == 404
            assert response.content_type == "application/problem+json"
    finally:
        await edge.stop()


async def test_a_busy_port_is_an_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        edge = EdgeRouter([])
        with pytest.raises(OSError):
            await edge.start("127.0.0.1", sock.getsockname()[1])
