"""The orders routes: what the gateway refuses itself, what it forwards to orders (the Idempotency-Key
above all), what it hands back, and a 503 problem+json in bounded time when orders is down."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
import pytest

if TYPE_CHECKING:
    from conftest import OpenGateway, StubCatalog, StubOrders

PROBLEM_JSON = "application/problem+json"
CHECKOUT = {"items": [{"sku": "MUG-001", "quantity": 2}], "customer": {"name": "Ada", "email": "ada@example.com"}}
KEY = "checkout-7f3a9c21"
# The client's backoff between attempts is at most 0.5 s (ClientPolicy.backoff_max_seconds).
BACKOFF_ALLOWANCE_SECONDS = 0.5


def order_requests(orders_stub: StubOrders, method: str, path: str) -> list[Any]:
    return [seen for seen in orders_stub.requests if (seen.method, seen.path) == (method, path)]


async def test_checkout_forwards_key_and_raw_body_and_rewrites_location(
    orders_stub: StubOrders, open_gateway: OpenGateway
) -> None:
    raw = orjson.dumps(CHECKOUT).replace(b",", b", ")
    async with open_gateway() as client:
        response = await client.post(
            "/api/orders",
            content=raw,
            headers={"Content-Type": "application/json", "Idempotency-Key": KEY, "X-Request-ID": "checkout-1"},
        )

    assert response.status_code == 201
    order = response.json()
    assert order["status"] == "CONFIRMED"
    assert response.headers["location"] == f"/api/orders/{order['id']}"
    assert response.content == orjson.dumps(orders_stub.orders[order["id"]])  # orders' bytes, passed through
    [seen] = orders_stub.requests
    assert (seen.method, seen.path) == ("POST", "/orders")
    assert seen.headers["idempotency-key"] == KEY
    assert seen.headers["x-request-id"] == "checkout-1"
    assert seen.headers["content-type"] == "application/json"
    assert seen.body == raw


async def test_order_lines_keep_the_names_orders_snapshotted_without_asking_catalog(
    stub: StubCatalog, orders_stub: StubOrders, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        created = await client.post("/api/orders", json=CHECKOUT, headers={"Idempotency-Key": KEY})
        read = await client.get(f"/api/orders/{created.json()['id']}")

    assert read.status_code == 200
    assert [line["name"] for line in read.json()["items"]] == ["Product MUG-001"]
    assert stub.requests == []


async def test_a_repeated_checkout_gives_the_same_order_and_another_body_a_409(
    orders_stub: StubOrders, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        first = await client.post("/api/orders", json=CHECKOUT, headers={"Idempotency-Key": KEY})
        again = await client.post("/api/orders", json=CHECKOUT, headers={"Idempotency-Key": KEY})
        other_body = {**CHECKOUT, "items": [{"sku": "MUG-001", "quantity": 3}]}
        conflict = await client.post("/api/orders", json=other_body, headers={"Idempotency-Key": KEY})

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert len(orders_stub.orders) == 1
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == PROBLEM_JSON


async def test_a_pending_order_comes_back_as_202(orders_stub: StubOrders, open_gateway: OpenGateway) -> None:
    orders_stub.pending = True
    async with open_gateway() as client:
        response = await client.post("/api/orders", json=CHECKOUT, headers={"Idempotency-Key": KEY})

    assert response.status_code == 202
    assert response.json()["status"] == "PENDING"
    assert response.headers["location"].startswith("/api/orders/")


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({}, "Idempotency-Key"),
        ({"Idempotency-Key": "short"}, "Idempotency-Key"),
        ({"Idempotency-Key": "has spaces in it"}, "Idempotency-Key"),
    ],
)
async def test_checkout_without_a_usable_key_is_refused_at_the_gateway(
    orders_stub: StubOrders, open_gateway: OpenGateway, headers: dict[str, str], named: str
) -> None:
    async with open_gateway() as client:
        response = await client.post("/api/orders", json=CHECKOUT, headers=headers)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert named in problem["detail"]
    assert {"field": named, "in": "header"}.items() <= problem["errors"][0].items()
    assert orders_stub.requests == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**CHECKOUT, "items": [{"sku": "MUG-001", "quantity": 0}]}, "items[0].quantity"),
        ({**CHECKOUT, "items": [{"sku": "MUG-001", "quantity": 1000}]}, "items[0].quantity"),
        ({**CHECKOUT, "items": []}, "items"),
        ({**CHECKOUT, "items": [{"sku": "bad sku!", "quantity": 1}]}, "items[0].sku"),
        ({"items": CHECKOUT["items"]}, "customer"),
        ({**CHECKOUT, "coupon": "FREE"}, "coupon"),
    ],
)
async def test_bad_checkout_bodies_are_refused_naming_the_field(
    orders_stub: StubOrders, open_gateway: OpenGateway, body: dict[str, Any], field: str
) -> None:
    async with open_gateway() as client:
        response = await client.post("/api/orders", json=body, headers={"Idempotency-Key": KEY})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert field in [error["field"] for error in response.json()["errors"]]
    assert orders_stub.requests == []


async def test_malformed_json_is_a_422_problem(orders_stub: StubOrders, open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.post(
            "/api/orders",
            content=b'{"items": [',
            headers={"Content-Type": "application/json", "Idempotency-Key": KEY},
        )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert orders_stub.requests == []


async def test_list_passes_the_validated_query_through(orders_stub: StubOrders, open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/orders", params={"status": "PAID", "limit": 5, "offset": 10})
        refused = await client.get("/api/orders", params={"status": "LOST"})
        too_many = await client.get("/api/orders", params={"limit": 1000})

    assert response.status_code == 200
    [seen] = orders_stub.requests
    assert seen.path == "/orders"
    assert sorted(seen.query.split("&")) == ["limit=5", "offset=10", "status=PAID"]
    assert (refused.status_code, too_many.status_code) == (422, 422)
    assert refused.json()["errors"][0]["field"] == "status"


async def test_unknown_order_is_orders_404_and_a_bad_id_never_leaves_the_gateway(
    orders_stub: StubOrders, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        missing = await client.get("/api/orders/ord-9999")
        bad = await client.get("/api/orders/not%20an%20id")

    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_JSON
    assert bad.status_code == 422
    assert [seen.path for seen in orders_stub.requests] == ["/orders/ord-9999"]


async def test_cancel_is_forwarded_and_a_repeat_answers_the_cancelled_order(
    orders_stub: StubOrders, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        order_id = (await client.post("/api/orders", json=CHECKOUT, headers={"Idempotency-Key": KEY})).json()["id"]
        first = await client.post(f"/api/orders/{order_id}/cancel")
        again = await client.post(f"/api/orders/{order_id}/cancel")

    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == again.json()["status"] == "CANCELLED"
    assert len(order_requests(orders_stub, "POST", f"/orders/{order_id}/cancel")) == 2


async def test_transition_forwards_the_admin_key_and_passes_409_with_allowed_through(
    orders_stub: StubOrders, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        order_id = (await client.post("/api/orders", json=CHECKOUT, headers={"Idempotency-Key": KEY})).json()["id"]
        path = f"/api/orders/{order_id}/transitions"
        no_key = await client.post(path, json={"to": "PAID"})
        wrong_key = await client.post(path, json={"to": "PAID"}, headers={"X-API-Key": "wrong-key-0123456789"})
        paid = await client.post(
            path, json={"to": "PAID", "reason": "card"}, headers={"X-API-Key": orders_stub.admin_key}
        )
        invalid = await client.post(path, json={"to": "DELIVERED"}, headers={"X-API-Key": orders_stub.admin_key})
        bad_status = await client.post(path, json={"to": "LOST"}, headers={"X-API-Key": orders_stub.admin_key})

    assert (no_key.status_code, wrong_key.status_code) == (401, 403)
    assert paid.status_code == 200
    assert paid.json()["status"] == "PAID"
    assert invalid.status_code == 409
    assert invalid.headers["content-type"] == PROBLEM_JSON
    assert invalid.json()["allowed"] == ["CANCELLED", "SHIPPED"]
    assert bad_status.status_code == 422
    forwarded = order_requests(orders_stub, "POST", f"/orders/{order_id}/transitions")
    # With a key, a bad body goes to orders, which checks the key before the body (it holds the key).
    assert len(forwarded) == 5
    assert forwarded[2].headers["x-api-key"] == orders_stub.admin_key
    assert orjson.loads(forwarded[2].body) == {"to": "PAID", "reason": "card"}


async def test_orders_down_gives_503_problem_in_time_while_products_keep_working(
    stub: StubCatalog, orders_stub: StubOrders, open_gateway: OpenGateway
) -> None:
    timeout, attempts = 0.5, 2
    async with open_gateway(
        UPSTREAM_TIMEOUT_SECONDS=timeout, UPSTREAM_MAX_ATTEMPTS=attempts, BREAKER_FAILURE_THRESHOLD=2
    ) as client:
        orders_stub.stop()
        started = time.monotonic()
        down = await client.post("/api/orders", json=CHECKOUT, headers={"Idempotency-Key": KEY})
        elapsed = time.monotonic() - started
        read = await client.get("/api/orders/ord-0001")
        cancel = await client.post("/api/orders/ord-0001/cancel")
        product = await client.get("/api/products/MUG-001")

    for response in (down, read, cancel):
        assert response.status_code == 503
        assert response.headers["content-type"] == PROBLEM_JSON
        assert int(response.headers["retry-after"]) >= 1
        problem = response.json()
        assert problem["type"].endswith("/upstream-unavailable")
        assert problem["upstream"] == "orders"
        assert "127.0.0.1" not in response.text
    assert elapsed < timeout * attempts + (attempts - 1) * BACKOFF_ALLOWANCE_SECONDS
    assert product.status_code == 200  # catalog has its own circuit, still closed


async def test_a_checkout_is_retried_with_the_same_key_when_orders_answers_503(
    orders_stub: StubOrders, open_gateway: OpenGateway
) -> None:
    orders_stub.fail_status = 503
    async with open_gateway(UPSTREAM_MAX_ATTEMPTS=3) as client:
        response = await client.post("/api/orders", json=CHECKOUT, headers={"Idempotency-Key": KEY})

    assert response.status_code == 503
    assert response.json()["upstream"] == "orders"
    # orders' own reason reaches the client (orders says why it cannot answer, e.g. catalog is down)
    assert response.json()["upstream_detail"] == "stub told to fail"
    assert response.json()["detail"] == "orders is unavailable: answered 503 (stub told to fail)"
    tries = order_requests(orders_stub, "POST", "/orders")
    assert len(tries) == 3
    assert {seen.headers["idempotency-key"] for seen in tries} == {KEY}
    assert {seen.body for seen in tries} == {tries[0].body}


async def test_a_transition_is_tried_once_when_orders_answers_503(
    orders_stub: StubOrders, open_gateway: OpenGateway
) -> None:
    """A transition carries no idempotency key: had the first try gone through behind the 503, a
    repeat would be refused from the new status and the client told it failed."""
    async with open_gateway(UPSTREAM_MAX_ATTEMPTS=3) as client:
        order_id = (await client.post("/api/orders", json=CHECKOUT, headers={"Idempotency-Key": KEY})).json()["id"]
        orders_stub.fail_status = 503
        response = await client.post(
            f"/api/orders/{order_id}/transitions", json={"to": "PAID"}, headers={"X-API-Key": orders_stub.admin_key}
        )

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["upstream"] == "orders"
    assert len(order_requests(orders_stub, "POST", f"/orders/{order_id}/transitions")) == 1


async def test_slow_orders_gives_503_not_a_hang(orders_stub: StubOrders, open_gateway: OpenGateway) -> None:
    timeout, attempts = 0.3, 2
    orders_stub.delay_seconds = 3.0
    async with open_gateway(ORDERS_TIMEOUT_SECONDS=timeout, UPSTREAM_MAX_ATTEMPTS=attempts) as client:
        started = time.monotonic()
        response = await client.get("/api/orders")
        elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json()["reason"].startswith("no answer within")
    assert timeout * attempts <= elapsed < timeout * attempts + BACKOFF_ALLOWANCE_SECONDS + 0.9


async def test_a_checkout_slower_than_the_catalog_timeout_still_answers(
    stub: StubCatalog, orders_stub: StubOrders, open_gateway: OpenGateway
) -> None:
    # orders calls catalog twice (each retried) before it answers a checkout: the gateway gives orders
    # its own, longer timeout, so a slow checkout is answered once instead of cut off and replayed.
    orders_stub.delay_seconds = 0.8
    stub.delay_seconds = 0.8
    async with open_gateway(
        UPSTREAM_TIMEOUT_SECONDS=0.3, ORDERS_TIMEOUT_SECONDS=3.0, UPSTREAM_MAX_ATTEMPTS=2
    ) as client:
        checkout = await client.post("/api/orders", json=CHECKOUT, headers={"Idempotency-Key": "slow-checkout-0001"})
        product = await client.get("/api/products/MUG-001")

    assert checkout.status_code == 201, checkout.text
    assert [seen.method for seen in orders_stub.requests] == ["POST"]  # answered once, not replayed
    assert product.status_code == 503  # catalog still has the short timeout


async def test_orders_failing_with_500_is_a_502_naming_orders(
    orders_stub: StubOrders, open_gateway: OpenGateway
) -> None:
    orders_stub.fail_status = 500
    async with open_gateway() as client:
        response = await client.get("/api/orders/ord-0001")

    assert response.status_code == 502
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["upstream"] == "orders"


async def test_the_openapi_document_shows_the_orders_routes(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        document = (await client.get("/api/openapi.json")).json()

    create = document["paths"]["/api/orders"]["post"]
    assert {"201", "202", "409", "422", "503"} <= set(create["responses"])
    key = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert (key["in"], key["required"]) == ("header", True)
    assert "/api/orders/{order_id}/transitions" in document["paths"]
