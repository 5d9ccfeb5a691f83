"""The fault switch on a real app: each fault's effect measured, every refusal, the metric and the log line."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy import text

from shopfloor_common.app import create_service_app
from shopfloor_common.db import create_engine
from shopfloor_common.errors import PROBLEM_JSON
from shopfloor_common.faults import (
    FAULTS,
    ErrorsFault,
    FaultError,
    FaultSwitch,
    LatencyFault,
    MemoryFault,
    fault_parameters,
    parse_fault_spec,
)
from shopfloor_common.settings import AdminSettings, DatabaseSettings, ServiceSettings, settings_errors

ADMIN_KEY = "fault-admin-key-0123456789"
ADMIN = {"X-API-Key": ADMIN_KEY}


class Settings(ServiceSettings, DatabaseSettings, AdminSettings):
    service_name: str = "faulty"
    database_url: str = "sqlite+aiosqlite:///:memory:"


class KeylessSettings(ServiceSettings):
    service_name: str = "keyless"


def settings(**values: Any) -> Settings:
    defaults: dict[str, Any] = {"admin_api_key": ADMIN_KEY, "access_log": False, "environment": "test"}
    return Settings(**{**defaults, **values})


pytestmark = pytest.mark.usefixtures("restore_logging")  # conftest.py


def build(service_settings: ServiceSettings) -> FastAPI:
    app = create_service_app(service_settings, title="faulty")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/other")
    async def other() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    """An app with its lifespan entered (SHOPFLOOR_FAULTS applies there) and a client for it."""
    opened: list[tuple[Any, httpx.AsyncClient]] = []

    async def start(app: FastAPI) -> httpx.AsyncClient:
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc", timeout=30)
        opened.append((lifespan, client))
        return client

    yield start
    for lifespan, client in reversed(opened):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def timed(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.get(path)
    return response, time.perf_counter() - started


def gauge(fault: str) -> float | None:
    return REGISTRY.get_sample_value("shopfloor_fault_active", {"fault": fault})


def requests_counted(route: str, status: str) -> float:
    return REGISTRY.get_sample_value("http_requests_total", {"method": "GET", "route": route, "status": status}) or 0.0


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# --- SHOPFLOOR_FAULTS and the settings ---------------------------------------------------------


def test_the_spec_syntax_parses_values_params_and_lists() -> None:
    parsed = parse_fault_spec("errors=0.5:routes=/api/orders,/api/products/;latency=0.2:ratio=0.1:seed=3; readiness")

    assert [name for name, _ in parsed] == ["errors", "latency", "readiness"]
    errors, latency = parsed[0][1], parsed[1][1]
    assert isinstance(errors, ErrorsFault)
    assert (errors.ratio, errors.status, errors.routes) == (0.5, 500, ["/api/orders", "/api/products"])
    assert isinstance(latency, LatencyFault)
    assert (latency.seconds, latency.ratio, latency.seed) == (0.2, 0.1, 3)
    memory = parse_fault_spec("memory=64:max-megabytes=256")[0][1]
    assert isinstance(memory, MemoryFault)
    assert (memory.megabytes_per_second, memory.max_megabytes) == (64, 256)
    assert parse_fault_spec("") == []


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("slowness=1", "slowness"),
        ("errors=2", "ratio"),
        ("errors=0.5:colour=red", "colour"),
        ("errors=0.5:routes", "routes"),
        ("errors=0.5:routes=api/orders", "routes"),
        ("readiness=1", "takes no value"),
        ("latency", "seconds"),
        ("cpu=1", "share"),
        ("errors=0.1;errors=0.2", "twice"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_part(spec: str, named: str) -> None:
    with pytest.raises(FaultError, match=named):
        parse_fault_spec(spec)


def test_settings_refuse_a_bad_spec_naming_the_variable() -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceSettings(shopfloor_faults="errors=7")
    assert any(line.startswith("SHOPFLOOR_FAULTS:") and "ratio" in line for line in settings_errors(caught.value))


def test_settings_refuse_faults_in_prod_and_when_disabled() -> None:
    with pytest.raises(ValidationError, match="refused in prod"):
        ServiceSettings(environment="prod", shopfloor_faults="errors=0.5")
    with pytest.raises(ValidationError, match="FAULTS_ENABLED=false"):
        ServiceSettings(faults_enabled=False, shopfloor_faults="errors=0.5")
    assert ServiceSettings(environment="prod").shopfloor_faults == ""  # prod without faults starts


# --- refusals ----------------------------------------------------------------------------------


async def test_the_admin_routes_need_the_key_checked_before_the_body(serve: Any) -> None:
    client = await serve(build(settings()))

    assert_problem(await client.get("/admin/faults"), 401)
    assert_problem(await client.put("/admin/faults/errors", json={"ratio": 0.5}), 401)
    wrong = {"X-API-Key": "not-the-admin-key-at-all"}
    assert_problem(await client.put("/admin/faults/errors", json={"ratio": 0.5}, headers=wrong), 403)
    # A wrong key with a bad body, or with a fault that does not exist, is still refused as such.
    assert_problem(await client.put("/admin/faults/errors", json={"ratio": 7}, headers=wrong), 403)
    bad_json = await client.put(
        "/admin/faults/errors", content=b'{"ratio": ', headers={**wrong, "content-type": "application/json"}
    )
    assert_problem(bad_json, 403)
    assert_problem(await client.put("/admin/faults/nonsense", json={}, headers={}), 401)
    assert_problem(await client.delete("/admin/faults", headers=wrong), 403)
    assert gauge("errors") == 0
    assert (await client.get("/items/1")).status_code == 200


async def test_bad_parameters_are_422_naming_them_and_unknown_faults_404(serve: Any) -> None:
    client = await serve(build(settings()))

    body = assert_problem(await client.put("/admin/faults/errors", json={"ratio": 7}, headers=ADMIN), 422)
    assert [e["field"] for e in body["errors"]] == ["ratio"]
    assert "ratio" in body["detail"]
    body = assert_problem(await client.put("/admin/faults/latency", json={"secs": 1}, headers=ADMIN), 422)
    assert {e["field"] for e in body["errors"]} == {"seconds", "secs"}
    body = assert_problem(await client.put("/admin/faults/errors", json=[0.5], headers=ADMIN), 422)
    assert body["errors"][0]["field"] == "body"
    body = assert_problem(await client.put("/admin/faults/slowness", json={}, headers=ADMIN), 404)
    assert "latency" in body["detail"]  # the known faults are listed
    assert (await client.get("/admin/faults", headers=ADMIN)).json()["active"] == []


async def test_prod_refuses_the_switch_even_with_the_key(serve: Any) -> None:
    app = build(settings(environment="prod"))
    client = await serve(app)

    for response in [
        await client.put("/admin/faults/errors", json={"ratio": 1}, headers=ADMIN),
        await client.get("/admin/faults", headers=ADMIN),
        await client.delete("/admin/faults", headers=ADMIN),
    ]:
        body = assert_problem(response, 403)
        assert body["detail"] == "fault injection is refused in prod"
    with pytest.raises(Exception, match="refused in prod"):
        await app.state.faults.set("errors", {"ratio": 1})
    assert (await client.get("/items/1")).status_code == 200


async def test_a_disabled_switch_and_a_service_without_an_admin_key_refuse(serve: Any) -> None:
    disabled = await serve(build(settings(faults_enabled=False)))
    body = assert_problem(await disabled.put("/admin/faults/readiness", json={}, headers=ADMIN), 403)
    assert "FAULTS_ENABLED=false" in body["detail"]

    keyless = await serve(build(KeylessSettings(access_log=False)))
    body = assert_problem(await keyless.put("/admin/faults/readiness", json={}, headers=ADMIN), 403)
    assert "SHOPFLOOR_FAULTS" in body["detail"]


def test_the_switch_routes_are_not_in_the_openapi_document() -> None:
    paths = build(settings()).openapi()["paths"]
    assert not [path for path in paths if path.startswith("/admin/faults")]


# --- effects -----------------------------------------------------------------------------------


async def test_latency_delays_the_chosen_routes_only(serve: Any) -> None:
    client = await serve(build(settings()))
    _, before = await timed(client, "/items/1")

    put = await client.put("/admin/faults/latency", json={"seconds": 0.3, "routes": ["/items"]}, headers=ADMIN)
    assert put.status_code == 200, put.text
    delayed, during = await timed(client, "/items/1")
    _, elsewhere = await timed(client, "/other")
    _, probe = await timed(client, "/readyz")
    assert (await client.delete("/admin/faults/latency", headers=ADMIN)).status_code == 204
    _, after = await timed(client, "/items/1")

    assert delayed.status_code == 200
    assert 0.3 <= during < 0.3 + 0.25, during
    assert max(before, after, elsewhere, probe) < 0.1, (before, after, elsewhere, probe)


async def test_errors_hit_about_their_ratio_and_count_under_the_route(serve: Any) -> None:
    client = await serve(build(settings()))
    counted_before = requests_counted("/items/{item_id}", "503")
    put = await client.put("/admin/faults/errors", json={"ratio": 0.3, "status": 503, "seed": 7}, headers=ADMIN)
    assert put.status_code == 200, put.text

    statuses = [(await client.get(f"/items/{n}")).status_code for n in range(300)]
    failed = statuses.count(503)

    assert set(statuses) == {200, 503}
    assert 60 <= failed <= 120, failed  # 30 % of 300 = 90; the seeded sample is reproducible
    assert requests_counted("/items/{item_id}", "503") - counted_before == failed
    injected = await client.get("/items/1")
    while injected.status_code != 503:
        injected = await client.get("/items/1")
    assert assert_problem(injected, 503)["type"].endswith("/injected-fault")
    assert (await client.get("/readyz")).status_code == 200  # probes are never hit


async def test_errors_on_an_included_router_count_under_its_route(serve: Any) -> None:
    """The gateway's routes all come through include_router: an injected checkout error must be
    counted under POST /api/orders, where the checkout SLI looks (not under <unmatched>)."""
    app = create_service_app(settings(), title="faulty")
    router = APIRouter(prefix="/api")

    @router.post("/orders", status_code=201)
    async def create_order() -> dict[str, bool]:
        return {"placed": True}

    app.include_router(router)
    client = await serve(app)

    def counted(route: str, status: str) -> float:
        labels = {"method": "POST", "route": route, "status": status}
        return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0

    before = {key: counted(*key) for key in [("/api/orders", "500"), ("<unmatched>", "500")]}
    put = await client.put("/admin/faults/errors", json={"routes": ["/api/orders"]}, headers=ADMIN)
    assert put.status_code == 200, put.text
    for _ in range(3):
        assert_problem(await client.post("/api/orders"), 500)
    assert counted("/api/orders", "500") - before[("/api/orders", "500")] == 3
    assert counted("<unmatched>", "500") == before[("<unmatched>", "500")]


async def test_readiness_fails_readyz_until_removed(serve: Any) -> None:
    client = await serve(build(settings()))
    assert (await client.get("/readyz")).status_code == 200

    await client.put("/admin/faults/readiness", json={}, headers=ADMIN)
    body = assert_problem(await client.get("/readyz"), 503)
    assert "fault-switch" in body["failing"]
    assert (await client.get("/items/1")).status_code == 200  # the process itself is fine

    await client.delete("/admin/faults", headers=ADMIN)
    assert (await client.get("/readyz")).status_code == 200


async def loop_stalls(seconds: float = 0.8) -> tuple[float, float]:
    """(worst, share): the longest a 5 ms sleep overslept, and the share of the time the loop
    could not run."""
    worst = stalled = 0.0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        late = time.perf_counter() - before - 0.005
        worst = max(worst, late)
        stalled += max(late, 0.0)
    return worst, stalled / (time.perf_counter() - started)


async def test_cpu_starves_the_event_loop(serve: Any) -> None:
    client = await serve(build(settings()))
    worst_before, share_before = await loop_stalls()

    await client.put("/admin/faults/cpu", json={"share": 0.8}, headers=ADMIN)
    try:
        await asyncio.sleep(0.3)  # calibration
        worst, share = await loop_stalls()
    finally:
        await client.delete("/admin/faults/cpu", headers=ADMIN)
    worst_after, _ = await loop_stalls(0.3)

    print(
        f"loop stalled: before {share_before:.0%} (worst {worst_before * 1000:.0f} ms), "
        f"with cpu 0.8 {share:.0%} (worst {worst * 1000:.0f} ms), after: worst {worst_after * 1000:.0f} ms"
    )
    assert worst >= 0.05, worst  # whole slices of ~80 ms in which the loop cannot run
    assert share >= 0.5, share
    assert share > share_before + 0.3


def resident_megabytes() -> float:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


async def test_memory_grows_resident_memory_to_its_cap_and_gives_it_back(serve: Any) -> None:
    client = await serve(build(settings()))
    before = resident_megabytes()

    put = await client.put(
        "/admin/faults/memory", json={"megabytes_per_second": 200, "max_megabytes": 120}, headers=ADMIN
    )
    assert put.status_code == 200, put.text
    assert await wait_for(lambda: resident_megabytes() >= before + 110, 5), resident_megabytes() - before
    await asyncio.sleep(0.3)
    grown = resident_megabytes() - before
    await client.delete("/admin/faults/memory", headers=ADMIN)

    assert grown < 120 + 30, grown  # it stopped at the cap
    assert await wait_for(lambda: resident_megabytes() < before + 40, 5), resident_megabytes() - before


async def test_hold_connections_makes_database_requests_wait_for_the_pool(serve: Any, postgres_url: str) -> None:
    service_settings = settings(
        database_url=postgres_url, db_pool_size=2, db_max_overflow=1, db_pool_timeout_seconds=0.5
    )
    engine = create_engine(service_settings)
    switch = FaultSwitch.for_service(service_settings)
    switch.register_engine(engine)
    app = create_service_app(service_settings, title="faulty", faults=switch)

    @app.get("/db")
    async def db() -> dict[str, int]:
        async with engine.connect() as connection:
            return {"answer": (await connection.execute(text("SELECT 42"))).scalar_one()}

    client = await serve(app)
    try:
        ok, before = await timed(client, "/db")
        assert ok.json() == {"answer": 42}

        put = await client.put("/admin/faults/hold-connections", json={}, headers=ADMIN)
        assert put.status_code == 200, put.text
        assert put.json()["note"] == "holding 3 of 3 connections"
        starved, waited = await timed(client, "/db")
        assert_problem(starved, 500)  # the pool's TimeoutError, unhandled by this small app
        assert waited >= 0.5, waited

        await client.delete("/admin/faults/hold-connections", headers=ADMIN)
        again, after = await timed(client, "/db")
        assert again.json() == {"answer": 42}
        assert max(before, after) < 0.5, (before, after)
    finally:
        await client.aclose()
        await engine.dispose()


async def test_hold_connections_is_409_without_a_pool(serve: Any) -> None:
    client = await serve(build(settings()))
    body = assert_problem(await client.put("/admin/faults/hold-connections", json={}, headers=ADMIN), 409)
    assert "pool" in body["detail"]
    assert gauge("hold-connections") == 0


async def test_io_errors_is_a_flag_stores_consult(serve: Any) -> None:
    app = build(settings())
    client = await serve(app)
    switch: FaultSwitch = app.state.faults
    switch.raise_if_io_fault("reading x")  # off: nothing happens

    await client.put("/admin/faults/io-errors", json={}, headers=ADMIN)
    assert switch.active("io-errors")
    with pytest.raises(OSError, match="Input/output error") as caught:
        switch.raise_if_io_fault("reading x")
    assert caught.value.errno == 5


# --- the metric, the log line, SHOPFLOOR_FAULTS at start, expiry -------------------------------


def fault_log(captured: str) -> list[dict[str, Any]]:
    records = [orjson.loads(line) for line in captured.splitlines() if line.strip()]
    return [r for r in records if r.get("logger") == "shopfloor.faults"]


async def test_every_fault_shows_as_a_metric_and_a_warning_when_set_and_removed(
    serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await serve(build(settings()))
    capsys.readouterr()

    await client.put("/admin/faults/errors", json={"ratio": 0.5, "routes": "/items"}, headers=ADMIN)
    metrics = (await client.get("/metrics")).text
    assert 'shopfloor_fault_active{fault="errors"} 1.0' in metrics
    assert 'shopfloor_fault_active{fault="latency"} 0.0' in metrics
    listing = (await client.get("/admin/faults", headers=ADMIN)).json()
    assert [(f["name"], f["parameters"]["ratio"], f["source"]) for f in listing["active"]] == [("errors", 0.5, "admin")]
    assert listing["available"] == list(FAULTS)

    await client.delete("/admin/faults/errors", headers=ADMIN)
    assert await client.delete("/admin/faults/errors", headers=ADMIN)  # removing twice is fine
    assert gauge("errors") == 0

    on, off = fault_log(capsys.readouterr().out)
    assert on["level"] == off["level"] == "WARNING"
    assert on["message"].startswith("fault on: errors ratio=0.5")
    assert on["parameters"] == {"ratio": 0.5, "routes": ["/items"], "status": 500}
    assert on["service"] == "faulty"
    assert off["message"] == "fault off: errors (removed)"


async def test_shopfloor_faults_switches_faults_on_at_start(serve: Any) -> None:
    app = build(settings(shopfloor_faults="errors=1:status=418:routes=/items;readiness"))
    client = await serve(app)

    assert_problem(await client.get("/items/1"), 418)
    assert (await client.get("/other")).status_code == 200
    assert_problem(await client.get("/readyz"), 503)
    active = (await client.get("/admin/faults", headers=ADMIN)).json()["active"]
    assert {(f["name"], f["source"]) for f in active} == {("errors", "environment"), ("readiness", "environment")}
    assert gauge("readiness") == 1


async def test_a_fault_with_a_duration_removes_itself(serve: Any) -> None:
    client = await serve(build(settings()))
    await client.put("/admin/faults/readiness", json={"duration_seconds": 0.2}, headers=ADMIN)
    assert (await client.get("/readyz")).status_code == 503

    await asyncio.sleep(0.4)
    assert (await client.get("/readyz")).status_code == 200
    assert gauge("readiness") == 0


def test_parameters_are_validated_by_fault() -> None:
    assert fault_parameters("cpu", {}).model_dump() == {"duration_seconds": None, "share": 0.8}
    with pytest.raises(FaultError) as caught:
        fault_parameters("memory", {"megabytes_per_second": 0})
    assert caught.value.field == "megabytes_per_second"
