"""catalog's fast routes (the price lookup and the reservation, shopfloor_common.fast_routes)
answer every request as the documented FastAPI routes do: the valid ones they serve, the rest
they hand over."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from shopfloor_common.fast_routes import documented_routes_only, fast_routes, parity_view

from .conftest import create

VOLATILE = frozenset({"request_id", "created_at", "updated_at", "released_at"})
JSON = {"content-type": "application/json"}

PRODUCT_QUERIES = {
    "price lookup": "?skus=MUG-001,MUG-002&limit=100",
    "no query": "",
    "search": "?q=mug&limit=5&offset=0",
    "category": "?category=kitchen",
    "unknown parameter": "?colour=red",
    "limit 0": "?limit=0",
    "limit not a number": "?limit=ten",
    "offset too far": "?offset=1000001",
    "text too long": "?q=" + "x" * 201,
    "too many skus": "?skus=" + ",".join(f"S-{n}" for n in range(101)),
    "limit twice": "?limit=5&limit=1",
}


def reservation_bodies(pass_name: str) -> dict[str, tuple[dict[str, str], bytes]]:
    order = f"ord-{pass_name}"
    line = {"sku": "MUG-001", "quantity": 1}
    return {
        "new": (JSON, orjson.dumps({"order_id": order, "items": [line]})),
        "again": (JSON, orjson.dumps({"order_id": order, "items": [line]})),
        "other items": (JSON, orjson.dumps({"order_id": order, "items": [{**line, "quantity": 2}]})),
        "short": (JSON, orjson.dumps({"order_id": f"{order}-2", "items": [{"sku": "GONE-01", "quantity": 1}]})),
        "unknown sku": (JSON, orjson.dumps({"order_id": f"{order}-3", "items": [{"sku": "NOPE-1", "quantity": 1}]})),
        "no items": (JSON, orjson.dumps({"order_id": f"{order}-4", "items": []})),
        "bad order id": (JSON, orjson.dumps({"order_id": "a b", "items": [line]})),
        "not JSON": (JSON, b"{"),
        "text/plain": ({"content-type": "text/plain"}, orjson.dumps({"order_id": f"{order}-5", "items": [line]})),
    }


def _answer(response: httpx.Response, pass_name: str = "") -> Any:
    # Each pass reserves its own order ids, which the answers name.
    body = response.content.replace(pass_name.encode(), b"PASS") if pass_name else response.content
    return parity_view(response.status_code, response.headers, body, VOLATILE)


async def _reads(catalog: httpx.AsyncClient) -> dict[str, Any]:
    return {name: _answer(await catalog.get(f"/products{query}")) for name, query in PRODUCT_QUERIES.items()}


async def _reservations(catalog: httpx.AsyncClient, pass_name: str) -> dict[str, Any]:
    answers = {}
    for name, (headers, body) in reservation_bodies(pass_name).items():
        answers[f"reserve {name}"] = _answer(
            await catalog.post("/reservations", content=body, headers=headers), pass_name
        )
    return answers


async def test_the_fast_routes_answer_as_the_documented_routes(catalog: httpx.AsyncClient) -> None:
    await create(catalog, "MUG-001", stock=50)
    await create(catalog, "MUG-002", stock=50)
    await create(catalog, "GONE-01", stock=0)
    app: FastAPI = catalog.app  # type: ignore[attr-defined]
    routes = {route.path: route for route in fast_routes(app)}

    # Reads first on both paths, then the reservations (which move stock) on both.
    fast = await _reads(catalog)
    with documented_routes_only(app):
        documented = await _reads(catalog)
    fast |= await _reservations(catalog, "fast")
    with documented_routes_only(app):
        documented |= await _reservations(catalog, "documented")

    assert fast == documented
    statuses = {name: answer[0] for name, answer in fast.items()}
    assert statuses == {
        **dict.fromkeys(["price lookup", "no query", "search", "category", "unknown parameter", "limit twice"], 200),
        **dict.fromkeys(["limit 0", "limit not a number", "offset too far", "text too long", "too many skus"], 422),
        "reserve new": 201,
        "reserve again": 200,
        "reserve other items": 409,
        "reserve short": 409,
        "reserve unknown sku": 404,
        **dict.fromkeys(["reserve no items", "reserve bad order id", "reserve not JSON", "reserve text/plain"], 422),
    }
    assert [item["sku"] for item in fast["price lookup"][3]["items"]] == ["MUG-001", "MUG-002"]
    # Both paths were taken.
    assert (routes["/products"].served, routes["/products"].declined) == (6, 5)
    assert (routes["/reservations"].served, routes["/reservations"].declined) == (5, 4)
