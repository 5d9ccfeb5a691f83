"""create_service_app in-process: problem+json errors, request ids, JSON logs, metrics, health, admin key."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field, SecretStr

from shopfloor_common.app import create_service_app
from shopfloor_common.auth import ADMIN_KEY_HEADER, admin_guard
from shopfloor_common.errors import PROBLEM_JSON, Problem
from shopfloor_common.health import Lifecycle
from shopfloor_common.settings import ServiceSettings

ADMIN_KEY = "correct-horse-battery-staple"
MINTED_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


class Line(BaseModel):
    sku: str = Field(min_length=1)
    quantity: int = Field(ge=1)


class Order(BaseModel):
    model_config = {"extra": "forbid"}

    name: str
    price_cents: int = Field(ge=0)
    lines: list[Line] = []


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging() rewires the root logger; later tests (and pytest's own capture) need it back."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    uvicorn_loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved_uvicorn = [(lg.handlers[:], lg.propagate, lg.disabled) for lg in uvicorn_loggers]
    yield
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for lg, (handlers, propagate, disabled) in zip(uvicorn_loggers, saved_uvicorn, strict=True):
        lg.handlers[:] = handlers
        lg.propagate = propagate
        lg.disabled = disabled


def build_app(lifecycle: Lifecycle | None = None) -> FastAPI:
    # Built inside each test (after capsys has replaced sys.stdout) so its JSON log lines are captured.
    app = create_service_app(ServiceSettings(service_name="testsvc"), title="test", lifecycle=lifecycle)
    admin = admin_guard(SecretStr(ADMIN_KEY))

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.post("/orders")
    async def create_order(order: Order, limit: int = 10) -> dict[str, Any]:
        return order.model_dump()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret-internal-detail at /srv/app/db.py")

    @app.get("/gone")
    async def gone() -> None:
        raise Problem(410, "this item was retired", type_="retired", retired_at="2024-01-01")

    @app.post("/admin/thing", dependencies=[Depends(admin)])
    async def admin_thing() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.fixture
async def client_for() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(app: FastAPI) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def log_records(captured: str) -> list[dict[str, Any]]:
    """Every stdout line the service logged must be one JSON object."""
    records = []
    for line in captured.splitlines():
        if line.strip():
            records.append(orjson.loads(line))
    return records


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# --- errors ---------------------------------------------------------------------------------


async def test_unknown_route_is_404_problem(client_for: Any) -> None:
    response = await client_for(build_app()).get("/no/such/route")

    body = assert_problem(response, 404)
    assert "/no/such/route" in body["detail"]


async def test_wrong_method_is_405_problem_with_allow(client_for: Any) -> None:
    response = await client_for(build_app()).delete("/items/1")

    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


async def test_validation_error_lists_every_bad_field(client_for: Any) -> None:
    response = await client_for(build_app()).post(
        "/orders",
        params={"limit": "many"},
        json={"price_cents": -5, "lines": [{"sku": "A", "quantity": 0}], "surprise": 1},
    )

    body = assert_problem(response, 422)
    assert body["type"].endswith("/validation")
    by_field = {error["field"]: error for error in body["errors"]}
    assert set(by_field) == {"name", "price_cents", "lines[0].quantity", "surprise", "limit"}
    assert by_field["limit"]["in"] == "query"
    assert by_field["price_cents"]["in"] == "body"
    assert all(error["message"] for error in body["errors"])
    for field in by_field:
        assert field in body["detail"]


async def test_malformed_json_body_is_422_problem(client_for: Any) -> None:
    response = await client_for(build_app()).post(
        "/orders", content=b'{"name": ', headers={"content-type": "application/json"}
    )

    assert_problem(response, 422)


async def test_own_problem_keeps_type_and_extensions(client_for: Any) -> None:
    response = await client_for(build_app()).get("/gone")

    body = assert_problem(response, 410)
    assert body["type"] == "https://shopfloor.dev/problems/retired"
    assert body["retired_at"] == "2024-01-01"


async def test_unhandled_error_is_bare_500_and_logged_with_the_request_id(
    client_for: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    app = build_app()
    capsys.readouterr()

    response = await client_for(app).get("/boom", headers={"X-Request-ID": "req-boom-1"})

    body = assert_problem(response, 500)
    assert response.headers["x-request-id"] == "req-boom-1"
    assert body["request_id"] == "req-boom-1"
    for leak in ("Traceback", "RuntimeError", "secret-internal-detail", "db.py"):
        assert leak not in response.text

    records = log_records(capsys.readouterr().out)
    errors = [r for r in records if r["level"] == "ERROR"]
    assert len(errors) == 1
    error = errors[0]
    assert error["logger"] == "shopfloor.errors"
    assert error["request_id"] == "req-boom-1"
    assert error["service"] == "testsvc"
    # The operator, unlike the client, gets the whole story.
    assert "RuntimeError: secret-internal-detail" in error["exc_info"]
    access = [r for r in records if r["logger"] == "shopfloor.access"]
    assert [(a["status"], a["request_id"], a["route"]) for a in access] == [(500, "req-boom-1", "/boom")]


# --- request id -----------------------------------------------------------------------------


async def test_sane_request_id_is_kept_and_logged(client_for: Any, capsys: pytest.CaptureFixture[str]) -> None:
    app = build_app()
    capsys.readouterr()

    response = await client_for(app).get("/items/7", headers={"X-Request-ID": "Abc-123_x.y:z"})

    assert response.status_code == 200
    assert response.headers["x-request-id"] == "Abc-123_x.y:z"
    access = [r for r in log_records(capsys.readouterr().out) if r["logger"] == "shopfloor.access"]
    assert len(access) == 1
    assert access[0]["request_id"] == "Abc-123_x.y:z"
    assert access[0]["path"] == "/items/7"
    assert access[0]["route"] == "/items/{item_id}"
    assert access[0]["duration_ms"] >= 0
    started = datetime.fromisoformat(access[0]["started_at"])
    written = datetime.fromisoformat(access[0]["time"])
    assert started <= written
    assert written - started >= timedelta(milliseconds=access[0]["duration_ms"] - 1)


async def test_missing_request_id_is_minted(client_for: Any) -> None:
    response = await client_for(build_app()).get("/items/7")

    assert MINTED_REQUEST_ID.match(response.headers["x-request-id"])


@pytest.mark.parametrize(
    "hostile",
    [
        "abc\n",
        "abc\r\nSet-Cookie: session=stolen",
        "a" * 500,
        "has space",
        "quote\"and'<script>",
        "ünïcode",
    ],
)
async def test_hostile_request_id_is_replaced(
    client_for: Any, capsys: pytest.CaptureFixture[str], hostile: str
) -> None:
    app = build_app()
    capsys.readouterr()

    response = await client_for(app).get("/items/7", headers=[(b"X-Request-ID", hostile.encode("utf-8"))])

    assert response.status_code == 200
    returned = response.headers["x-request-id"]
    assert MINTED_REQUEST_ID.match(returned)
    assert hostile.encode() not in capsys.readouterr().out.encode()


# --- metrics --------------------------------------------------------------------------------


def metric_value(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, or None when it is absent."""
    for line in exposition.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        metric, _, label_text = sample.partition("{")
        if metric != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', label_text))
        if found == labels:
            return float(value)
    return None


async def test_metrics_count_by_route_template(client_for: Any) -> None:
    client = client_for(build_app())
    before = metric_value(
        (await client.get("/metrics")).text,
        "http_requests_total",
        method="GET",
        route="/items/{item_id}",
        status="200",
    )

    for item_id in (101, 102, 103):
        assert (await client.get(f"/items/{item_id}")).status_code == 200
    await client.get("/definitely-not-a-route-4711")

    scrape = await client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text
    after = metric_value(text, "http_requests_total", method="GET", route="/items/{item_id}", status="200")
    assert after == (before or 0) + 3
    # One series per template, not per URL: concrete paths would explode the series count.
    assert "/items/101" not in text
    assert "definitely-not-a-route" not in text
    assert metric_value(text, "http_requests_total", method="GET", route="<unmatched>", status="404")
    assert metric_value(text, "http_request_duration_seconds_count", method="GET", route="/items/{item_id}")
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/items/{item_id}"}' in text
    # The scrape itself is the request in flight while the gauge is read.
    in_flight = metric_value(text, "http_requests_in_flight")
    assert in_flight is not None
    assert in_flight >= 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prometheus_client reads process metrics from /proc")
async def test_metrics_include_process_metrics(client_for: Any) -> None:
    text = (await client_for(build_app()).get("/metrics")).text

    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
        value = metric_value(text, name)
        assert value is not None, name
        assert value > 0, name


async def test_unhandled_error_is_counted_as_500(client_for: Any) -> None:
    client = client_for(build_app())
    labels = {"method": "GET", "route": "/boom", "status": "500"}
    before = metric_value((await client.get("/metrics")).text, "http_requests_total", **labels) or 0

    await client.get("/boom")

    assert metric_value((await client.get("/metrics")).text, "http_requests_total", **labels) == before + 1


# --- health ---------------------------------------------------------------------------------


async def ok_check() -> None:
    return None


async def failing_check() -> None:
    raise ConnectionRefusedError("database refused the connection")


async def hanging_check() -> None:
    await asyncio.Event().wait()


async def test_livez_is_200(client_for: Any) -> None:
    response = await client_for(build_app()).get("/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_readyz_200_when_checks_pass(client_for: Any) -> None:
    lifecycle = Lifecycle()
    lifecycle.add_check("database", ok_check)
    lifecycle.add_check("cache", ok_check)

    response = await client_for(build_app(lifecycle)).get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": ["cache", "database"]}


async def test_readyz_503_names_the_failing_check(client_for: Any) -> None:
    lifecycle = Lifecycle()
    lifecycle.add_check("cache", ok_check)
    lifecycle.add_check("database", failing_check)

    response = await client_for(build_app(lifecycle)).get("/readyz")

    body = assert_problem(response, 503)
    assert "database" in body["detail"]
    assert "cache" not in body["detail"]
    assert set(body["failing"]) == {"database"}
    assert "ConnectionRefusedError" in body["failing"]["database"]


async def test_readyz_hanging_check_gives_503_within_the_check_timeout(client_for: Any) -> None:
    lifecycle = Lifecycle(check_timeout_seconds=0.2)
    lifecycle.add_check("database", ok_check)
    lifecycle.add_check("upstream", hanging_check)
    client = client_for(build_app(lifecycle))

    started = time.monotonic()
    response = await client.get("/readyz")
    elapsed = time.monotonic() - started

    body = assert_problem(response, 503)
    assert set(body["failing"]) == {"upstream"}
    assert "no answer within 0.2s" in body["failing"]["upstream"]
    assert elapsed < 1.0


async def test_readyz_503_while_draining_but_livez_stays_200(client_for: Any) -> None:
    lifecycle = Lifecycle()
    lifecycle.add_check("database", ok_check)
    client = client_for(build_app(lifecycle))
    assert (await client.get("/readyz")).status_code == 200

    lifecycle.begin_draining()

    body = assert_problem(await client.get("/readyz"), 503)
    assert set(body["failing"]) == {"shutdown"}
    assert (await client.get("/livez")).status_code == 200


# --- admin key ------------------------------------------------------------------------------


async def test_admin_route_without_key_is_401(client_for: Any) -> None:
    response = await client_for(build_app()).post("/admin/thing")

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == ADMIN_KEY_HEADER


@pytest.mark.parametrize("wrong", ["wrong-key", ADMIN_KEY + "x", ADMIN_KEY[:-1], ADMIN_KEY.upper()])
async def test_admin_route_with_wrong_key_is_403(client_for: Any, wrong: str) -> None:
    response = await client_for(build_app()).post("/admin/thing", headers={ADMIN_KEY_HEADER: wrong})

    body = assert_problem(response, 403)
    assert ADMIN_KEY not in response.text
    assert wrong not in body["detail"]


async def test_admin_route_with_right_key_is_200(client_for: Any) -> None:
    response = await client_for(build_app()).post("/admin/thing", headers={ADMIN_KEY_HEADER: ADMIN_KEY})

    assert response.status_code == 200
    assert response.json() == {"ok": True}


async def test_api_docs_are_served_without_a_cdn() -> None:
    from httpx import ASGITransport, AsyncClient

    from shopfloor_common.app import create_service_app
    from shopfloor_common.settings import ServiceSettings

    app = create_service_app(ServiceSettings(), title="docs", docs_url="/api/docs")
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        page = await client.get("/api/docs")
        assert page.status_code == 200
        assert "cdn" not in page.text.lower()
        assert "/api/docs-assets/swagger-ui-bundle.js" in page.text
        script = await client.get("/api/docs-assets/swagger-ui-bundle.js")
        assert script.status_code == 200
        assert len(script.content) > 100_000
