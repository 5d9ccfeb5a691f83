"""The checkout's fast route (shopfloor_common.fast_routes) answers every request as the documented
FastAPI route does: the valid ones it serves, the rest it hands over."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from shopfloor_common.fast_routes import documented_routes_only, fast_routes, parity_view

from .conftest import CUSTOMER, Shop

JSON = {"content-type": "application/json"}
LINE = {"sku": "MUG-001", "quantity": 2}
VALID = {"items": [LINE], "customer": CUSTOMER}
VOLATILE = frozenset({"id", "request_id", "created_at", "updated_at", "at"})

# name -> (headers without the key, body, whether a key is sent); the key is made per pass, so
# the valid cases place a new order on each path.
CASES: dict[str, tuple[dict[str, str], bytes, bool]] = {
    "valid": (JSON, orjson.dumps(VALID), True),
    "valid, charset": ({"content-type": "application/json; charset=utf-8"}, orjson.dumps(VALID), True),
    "no content type": ({}, orjson.dumps(VALID), True),  # FastAPI's strict content type: 422
    "valid, quantity as a string": (JSON, orjson.dumps({**VALID, "items": [{**LINE, "quantity": "2"}]}), True),
    "unknown sku": (JSON, orjson.dumps({**VALID, "items": [{"sku": "NOPE-1", "quantity": 1}]}), True),
    "short of stock": (JSON, orjson.dumps({**VALID, "items": [{"sku": "MUG-002", "quantity": 5}]}), True),
    "no key": (JSON, orjson.dumps(VALID), False),
    "bad key": ({**JSON, "Idempotency-Key": "no"}, orjson.dumps(VALID), False),
    "not JSON": (JSON, b'{"items": [', True),
    "text/plain": ({"content-type": "text/plain"}, orjson.dumps(VALID), True),
    "no items": (JSON, orjson.dumps({**VALID, "items": []}), True),
    "sku twice": (JSON, orjson.dumps({**VALID, "items": [LINE, LINE]}), True),
    "extra field": (JSON, orjson.dumps({**VALID, "coupon": "FREE"}), True),
    "bad email": (JSON, orjson.dumps({**VALID, "customer": {**CUSTOMER, "email": "nobody"}}), True),
    "NaN quantity": (JSON, b'{"items": [{"sku": "MUG-001", "quantity": NaN}], "customer": {"name": "A"}}', True),
}


def _answer(response: httpx.Response) -> Any:
    return parity_view(
        response.status_code,
        response.headers,
        response.content,
        VOLATILE,
        header_names=["idempotent-replayed", "retry-after"],
    ), "location" in response.headers


async def _answers(shop: Shop, path_name: str) -> dict[str, Any]:
    answers = {}
    for index, (name, (headers, body, with_key)) in enumerate(CASES.items()):
        key = {"Idempotency-Key": f"parity-{path_name}-{index:02d}"} if with_key else {}
        answers[name] = _answer(await shop.orders.post("/orders", content=body, headers={**headers, **key}))
    return answers


async def test_the_fast_checkout_route_answers_as_the_documented_route(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=100)
    await shop.add_product("MUG-002", stock=1)
    [route] = fast_routes(shop.app)

    fast = await _answers(shop, "fast")
    with documented_routes_only(shop.app):
        documented = await _answers(shop, "documented")

    assert fast == documented
    statuses = {name: answer[0][0] for name, answer in fast.items()}
    assert statuses == {
        **dict.fromkeys(["valid", "valid, charset", "valid, quantity as a string"], 201),
        "short of stock": 201,  # REJECTED
        **dict.fromkeys([name for name in CASES if not name.startswith(("valid", "short"))], 422),
    }
    # Both paths were taken: what the fast route can tell is valid it served, the rest it handed over.
    assert route.served == 5
    assert route.declined == len(CASES) - 5
