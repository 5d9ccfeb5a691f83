"""ServiceClient against real aiohttp servers on loopback: retries, timeouts, circuit breaker, request ids."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from shopfloor_common.client import ClientPolicy, ServiceClient, UpstreamUnavailable
from shopfloor_common.logs import request_id_var

# Small back-offs keep the suite fast; the logic under test does not depend on their size.
FAST = ClientPolicy(
    timeout_seconds=1.0,
    connect_timeout_seconds=0.5,
    max_attempts=3,
    backoff_base_seconds=0.01,
    backoff_max_seconds=0.02,
    breaker_failure_threshold=100,
)


@dataclass
class Upstream:
    """A real HTTP server whose answers the test steers, counting every request it receives."""

    url: str
    hits: Counter[str] = field(default_factory=Counter)
    request_ids: list[str | None] = field(default_factory=list)
    failures_before_success: int = 0
    failure_status: int = 503
    slow_seconds: float = 0.0
    slow_started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    state = Upstream(url="")

    async def echo(request: web.Request) -> web.Response:
        state.hits[f"{request.method} {request.path}"] += 1
        state.request_ids.append(request.headers.get("X-Request-ID"))
        return web.json_response({"method": request.method, "query": dict(request.query)})

    async def flaky(request: web.Request) -> web.Response:
        key = f"{request.method} {request.path}"
        state.hits[key] += 1
        if state.hits[key] <= state.failures_before_success:
            return web.json_response({"error": "try later"}, status=state.failure_status)
        return web.json_response({"ok": True, "attempt": state.hits[key]})

    async def slow(request: web.Request) -> web.Response:
        state.hits[f"{request.method} {request.path}"] += 1
        state.slow_started.set()
        # Ends early when the test releases it, so teardown never waits for a sleeping handler.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.release.wait(), state.slow_seconds)
        return web.json_response({"slow": True})

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_route("*", "/flaky", flaky)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}"
    yield state
    state.release.set()
    await runner.cleanup()


@pytest.fixture
async def make_client() -> AsyncIterator[type[ServiceClient]]:
    clients: list[ServiceClient] = []

    class TrackedClient(ServiceClient):
        def __init__(self, name: str, base_url: str, policy: ClientPolicy | None = None) -> None:
            super().__init__(name, base_url, policy)
            clients.append(self)

    yield TrackedClient
    for client in clients:
        await client.close()


async def test_get_returns_status_headers_and_body(upstream: Upstream, make_client: type[ServiceClient]) -> None:
    client = make_client("echo-get", upstream.url, FAST)

    response = await client.request("GET", "/echo", params={"q": "lamp"})

    assert response.status == 200
    assert response.content_type.startswith("application/json")
    assert response.json() == {"method": "GET", "query": {"q": "lamp"}}
    assert upstream.hits["GET /echo"] == 1


async def test_request_id_is_propagated(upstream: Upstream, make_client: type[ServiceClient]) -> None:
    client = make_client("echo-rid", upstream.url, FAST)

    token = request_id_var.set("req-from-caller-42")
    try:
        await client.request("GET", "/echo")
    finally:
        request_id_var.reset(token)
    await client.request("GET", "/echo")

    assert upstream.request_ids == ["req-from-caller-42", None]


async def test_get_is_retried_on_503_then_succeeds(upstream: Upstream, make_client: type[ServiceClient]) -> None:
    upstream.failures_before_success = 2
    client = make_client("flaky-get", upstream.url, FAST)

    response = await client.request("GET", "/flaky")

    assert response.status == 200
    assert response.json() == {"ok": True, "attempt": 3}
    assert upstream.hits["GET /flaky"] == 3


async def test_get_gives_up_after_max_attempts(upstream: Upstream, make_client: type[ServiceClient]) -> None:
    upstream.failures_before_success = 10
    upstream.failure_status = 502
    client = make_client("flaky-exhausted", upstream.url, FAST)

    with pytest.raises(UpstreamUnavailable, match="answered 502"):
        await client.request("GET", "/flaky")

    assert upstream.hits["GET /flaky"] == FAST.max_attempts


async def test_500_is_returned_not_retried(upstream: Upstream, make_client: type[ServiceClient]) -> None:
    # A plain 500 is the upstream's bug, not a transient outage: retrying would repeat it.
    upstream.failures_before_success = 1
    upstream.failure_status = 500
    client = make_client("flaky-500", upstream.url, FAST)

    response = await client.request("GET", "/flaky")

    assert response.status == 500
    assert upstream.hits["GET /flaky"] == 1


async def test_post_is_not_retried(upstream: Upstream, make_client: type[ServiceClient]) -> None:
    upstream.failures_before_success = 1
    client = make_client("flaky-post", upstream.url, FAST)

    with pytest.raises(UpstreamUnavailable, match="answered 503"):
        await client.request("POST", "/flaky", json={"order": 1})

    assert upstream.hits["POST /flaky"] == 1


async def test_post_marked_idempotent_is_retried(upstream: Upstream, make_client: type[ServiceClient]) -> None:
    upstream.failures_before_success = 1
    client = make_client("flaky-post-idem", upstream.url, FAST)

    response = await client.request("POST", "/flaky", json={"order": 1}, idempotent=True)

    assert response.status == 200
    assert upstream.hits["POST /flaky"] == 2


async def test_connection_refused_is_unavailable_quickly(
    unused_tcp_port: int, make_client: type[ServiceClient]
) -> None:
    client = make_client("nobody-home", f"http://127.0.0.1:{unused_tcp_port}", FAST)

    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable) as raised:
        await client.request("GET", "/anything")

    assert time.monotonic() - started < 1.0
    assert raised.value.upstream == "nobody-home"


async def test_slow_upstream_is_unavailable_within_timeout_times_attempts(
    upstream: Upstream, make_client: type[ServiceClient]
) -> None:
    upstream.slow_seconds = 10
    policy = ClientPolicy(timeout_seconds=0.2, max_attempts=2, backoff_base_seconds=0.01, backoff_max_seconds=0.02)
    client = make_client("sluggish", upstream.url, policy)

    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable, match=r"no answer within 0\.2s"):
        await client.request("GET", "/slow")
    elapsed = time.monotonic() - started

    assert upstream.hits["GET /slow"] == 2
    assert 0.4 <= elapsed < 0.4 + 0.5


def breaker_policy(reset_seconds: float) -> ClientPolicy:
    return ClientPolicy(
        timeout_seconds=1.0,
        max_attempts=1,
        breaker_failure_threshold=2,
        breaker_reset_seconds=reset_seconds,
    )


async def test_circuit_opens_then_half_opens_and_closes(upstream: Upstream, make_client: type[ServiceClient]) -> None:
    upstream.failures_before_success = 2
    client = make_client("breaker-cycle", upstream.url, breaker_policy(reset_seconds=0.3))

    for _ in range(2):
        with pytest.raises(UpstreamUnavailable, match="answered 503"):
            await client.request("GET", "/flaky")
    assert client.breaker.state == "open"

    # Open: fails at once, and the struggling upstream is not even asked.
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable, match="circuit open"):
        await client.request("GET", "/flaky")
    assert time.monotonic() - started < 0.1
    assert upstream.hits["GET /flaky"] == 2

    await asyncio.sleep(0.3)  # the breaker's own clock: nothing to await but time
    assert client.breaker.state == "half-open"

    response = await client.request("GET", "/flaky")
    assert response.status == 200
    assert upstream.hits["GET /flaky"] == 3
    assert client.breaker.state == "closed"
    assert (await client.request("GET", "/flaky")).status == 200


async def test_failed_probe_opens_the_circuit_again(upstream: Upstream, make_client: type[ServiceClient]) -> None:
    upstream.failures_before_success = 100
    client = make_client("breaker-reopen", upstream.url, breaker_policy(reset_seconds=0.2))
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            await client.request("GET", "/flaky")

    await asyncio.sleep(0.2)
    with pytest.raises(UpstreamUnavailable, match="answered 503"):
        await client.request("GET", "/flaky")  # the probe

    assert upstream.hits["GET /flaky"] == 3
    assert client.breaker.state == "open"
    with pytest.raises(UpstreamUnavailable, match="circuit open"):
        await client.request("GET", "/flaky")
    assert upstream.hits["GET /flaky"] == 3


async def test_half_open_lets_one_probe_through_at_a_time(upstream: Upstream, make_client: type[ServiceClient]) -> None:
    upstream.failures_before_success = 2
    client = make_client("breaker-probe", upstream.url, breaker_policy(reset_seconds=0.2))
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            await client.request("GET", "/flaky")
    await asyncio.sleep(0.2)
    upstream.slow_seconds = 5

    probe = asyncio.create_task(client.request("GET", "/slow"))
    await upstream.slow_started.wait()
    with pytest.raises(UpstreamUnavailable, match="circuit open"):
        await client.request("GET", "/flaky")
    upstream.release.set()

    assert (await probe).status == 200
    assert client.breaker.state == "closed"


async def test_cancelled_probe_does_not_leave_the_circuit_stuck_open(
    upstream: Upstream, make_client: type[ServiceClient]
) -> None:
    # A caller may give up on a probe (its own timeout, a client disconnect); the next call
    # must be allowed to probe instead of the circuit staying open for the life of the process.
    upstream.failures_before_success = 2
    client = make_client("breaker-cancel", upstream.url, breaker_policy(reset_seconds=0.2))
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            await client.request("GET", "/flaky")
    await asyncio.sleep(0.2)
    upstream.slow_seconds = 5

    probe = asyncio.create_task(client.request("GET", "/slow"))
    await upstream.slow_started.wait()
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe

    response = await client.request("GET", "/flaky")
    assert response.status == 200
    assert client.breaker.state == "closed"
