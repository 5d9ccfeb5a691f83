"""shopfloor_common.fast_routes on a service app: what a fast route serves, what it hands to the
documented route (body included), and that both are counted under the route's template."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Response
from pydantic import BaseModel, Field, TypeAdapter
from starlette.requests import Request

from shopfloor_common.app import create_service_app
from shopfloor_common.fast_routes import add_fast_route, json_body_as, valid_as
from shopfloor_common.settings import ServiceSettings

Colour = TypeAdapter(str)


class Thing(BaseModel):
    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1)
    count: int = Field(ge=1)


pytestmark = pytest.mark.usefixtures("restore_logging")  # conftest.py


def build_app() -> FastAPI:
    app = create_service_app(ServiceSettings(service_name="fastsvc", access_log=False), title="test")

    @app.post("/things/{colour}", status_code=201)
    async def documented(colour: str, thing: Thing) -> Response:
        return Response(f"documented {colour} {thing.name} x{thing.count}", status_code=201)

    async def fast(request: Request, body: bytes) -> Response | None:
        thing = json_body_as(Thing, request, body)
        colour = valid_as(Colour, request.path_params["colour"])
        if thing is None or colour is None:
            return None
        return Response(f"fast {colour} {thing.name} x{thing.count}", status_code=201)

    add_fast_route(app, "POST", "/things/{colour}", fast)
    return app


async def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


def _count(metrics: str, status: str) -> float:
    sample = f'http_requests_total{{method="POST",route="/things/{{colour}}",status="{status}"}} '
    return sum(float(line.removeprefix(sample)) for line in metrics.splitlines() if line.startswith(sample))


async def test_valid_requests_are_served_fast_and_the_rest_by_the_documented_route_with_their_body() -> None:
    app = build_app()
    async with await _client(app) as client:
        before = (await client.get("/metrics")).text
        served = await client.post("/things/red", json={"name": "cup", "count": 2})
        invalid = await client.post("/things/red", json={"name": "cup", "count": 0})
        plain_text = await client.post(
            "/things/red", content=b'{"name": "cup", "count": 2}', headers={"content-type": "text/plain"}
        )
        wrong_method = await client.put("/things/red", json={"name": "cup", "count": 2})
        after = (await client.get("/metrics")).text

    assert (served.status_code, served.text) == (201, "fast red cup x2")
    # Handed over with the body it had read: the documented route names the field, not a missing body.
    assert invalid.status_code == 422
    assert [error["field"] for error in invalid.json()["errors"]] == ["count"]
    # FastAPI's own answer for a body it will not read as JSON.
    assert plain_text.status_code == 422
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"].startswith("application/problem+json")
    # Both paths counted under the template, as the SLOs select routes by it.
    assert _count(after, "201") == _count(before, "201") + 1
    assert _count(after, "422") == _count(before, "422") + 2


async def test_a_body_sent_in_chunks_is_handed_over_whole() -> None:
    app = build_app()
    body = orjson.dumps({"name": "x" * 300_000, "count": 1, "extra": True})
    chunks = [body[:1000], body[1000:200_000], body[200_000:]]
    messages: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/things/blue",
        "raw_path": b"/things/blue",
        "root_path": "",
        "query_string": b"",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5000),
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)

    assert messages[0]["status"] == 422
    answer = orjson.loads(b"".join(m.get("body", b"") for m in messages[1:]))
    # The documented route saw the whole body: it names the one field the fast route refused it for.
    assert [error["field"] for error in answer["errors"]] == ["extra"]
