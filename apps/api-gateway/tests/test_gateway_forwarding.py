"""What the gateway forwards to catalog, what it refuses itself, and what it hands back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from shopfloor_common.fast_routes import documented_routes_only, fast_routes, parity_view

if TYPE_CHECKING:
    from conftest import OpenGateway, StubCatalog, StubOrders

PROBLEM_JSON = "application/problem+json"
NEW_PRODUCT = {"sku": "LAMP-9", "name": "Lamp", "category": "home", "price_cents": 4500, "stock": 3}


async def test_product_read_returns_catalogs_bytes_and_propagates_the_request_id(
    stub: StubCatalog, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/products/MUG-001", headers={"X-Request-ID": "trace-42"})

    assert response.status_code == 200
    assert response.content == stub.product_bytes  # passed through, not parsed and re-serialized
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "trace-42"
    [seen] = stub.requests
    assert (seen.method, seen.path) == ("GET", "/products/MUG-001")
    assert seen.headers["x-request-id"] == "trace-42"
    assert seen.headers["accept-encoding"] == response.request.headers["accept-encoding"]


async def test_client_without_accept_encoding_gets_identity_from_catalog(
    stub: StubCatalog, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        request = client.build_request("GET", "/api/products/MUG-001")
        del request.headers["accept-encoding"]
        response = await client.send(request)

    assert response.status_code == 200
    # aiohttp would otherwise ask for gzip and the client would get bytes it never asked for
    assert stub.requests[0].headers["accept-encoding"] == "identity"


async def test_list_passes_validated_query_through(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/products", params={"q": "mug", "category": "kitchen", "limit": 5})

    assert response.status_code == 200
    assert response.json()["items"][0]["sku"] == "MUG-001"
    [seen] = stub.requests
    assert seen.path == "/products"
    assert sorted(seen.query.split("&")) == ["category=kitchen", "limit=5", "offset=0", "q=mug"]


async def test_catalog_404_passes_through_unchanged(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/products/NOPE-1")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["detail"] == "no product NOPE-1"


async def test_admin_create_forwards_key_and_raw_body_and_rewrites_location(
    stub: StubCatalog, open_gateway: OpenGateway
) -> None:
    raw = b'{"sku":"LAMP-9",  "name":"Lamp","category":"home","price_cents":4500}'
    async with open_gateway() as client:
        response = await client.post(
            "/api/products",
            content=raw,
            headers={"Content-Type": "application/json", "X-API-Key": stub.admin_key, "X-Request-ID": "create-1"},
        )

    assert response.status_code == 201
    assert response.headers["location"] == "/api/products/LAMP-9"
    [seen] = stub.requests
    assert seen.body == raw  # the client's bytes, not a re-encoding of the validated model
    assert seen.headers["x-api-key"] == stub.admin_key
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-request-id"] == "create-1"


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("wrong-key-0123456789", 403)])
async def test_admin_refusals_come_from_catalog_unchanged(
    stub: StubCatalog, open_gateway: OpenGateway, key: str | None, status: int
) -> None:
    headers = {"X-API-Key": key} if key else {}
    async with open_gateway() as client:
        response = await client.delete("/api/products/MUG-001", headers=headers)

    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    assert len(stub.requests) == 1


async def test_patch_and_delete_are_forwarded(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    admin = {"X-API-Key": stub.admin_key}
    async with open_gateway() as client:
        patched = await client.patch("/api/products/MUG-001", json={"stock": 9}, headers=admin)
        deleted = await client.delete("/api/products/MUG-001", headers=admin)

    assert patched.status_code == 200
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert [(r.method, r.path, r.body) for r in stub.requests] == [
        ("PATCH", "/products/MUG-001", b'{"stock":9}'),
        ("DELETE", "/products/MUG-001", b""),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW_PRODUCT, "price_cents": -1}, "price_cents"),
        ({**NEW_PRODUCT, "colour": "red"}, "colour"),
        ({**NEW_PRODUCT, "sku": "bad sku/.."}, "sku"),
    ],
)
async def test_bad_product_is_refused_naming_the_field_after_catalog_checked_the_key(
    stub: StubCatalog, open_gateway: OpenGateway, body: dict[str, object], field: str
) -> None:
    # The gateway holds no admin key: a bad body with a key goes to catalog, which checks the
    # key first (authentication before validation) and then names the field.
    async with open_gateway() as client:
        response = await client.post("/api/products", json=body, headers={"X-API-Key": stub.admin_key})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert len(stub.requests) == 1


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("wrong-key-0123456789", 403), ("", 401)])
@pytest.mark.parametrize(
    "body",
    [b'{"sku": "LAMP-9", "price_cents": -1}', b"{not json", b'{"colour": "red"}'],
    ids=["field", "json", "extra"],
)
async def test_admin_refusal_comes_before_body_validation(
    stub: StubCatalog, open_gateway: OpenGateway, key: str | None, status: int, body: bytes
) -> None:
    # A wrong key with a bad body used to get a 422 that described the product schema.
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key is not None else {})}
    async with open_gateway() as client:
        response = await client.post("/api/products", content=body, headers=headers)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "errors" not in response.json()
    assert len(stub.requests) == (1 if status == 403 else 0)  # only catalog knows the key


async def test_a_bad_path_with_a_key_is_not_forwarded(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    # Path tricks never reach catalog, even when the body is what is wrong too.
    async with open_gateway() as client:
        response = await client.patch(
            "/api/products/bad..sku%2F..", content=b"{not json", headers={"X-API-Key": "wrong-key-0123456789"}
        )

    assert response.status_code in {404, 422}
    assert stub.requests == []


@pytest.mark.parametrize(("query", "field"), [("limit=100000", "limit"), ("limit=0", "limit"), ("offset=-1", "offset")])
async def test_bad_paging_is_refused_naming_the_field(
    stub: StubCatalog, open_gateway: OpenGateway, query: str, field: str
) -> None:
    async with open_gateway() as client:
        response = await client.get(f"/api/products?{query}")

    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["field"] == field
    assert field in problem["detail"]
    assert stub.requests == []


async def test_image_upload_is_forwarded_byte_for_byte(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        sent = client.build_request(
            "PUT",
            "/api/products/MUG-001/image",
            files={"image": ("mug.png", stub.image_bytes, "image/png")},
            headers={"X-API-Key": stub.admin_key},
        )
        sent.read()
        response = await client.send(sent)

    assert response.status_code == 200
    [seen] = stub.requests
    assert seen.path == "/products/MUG-001/image"
    assert seen.headers["content-type"] == sent.headers["content-type"]  # the multipart boundary survives
    assert seen.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert seen.body == sent.content


async def test_ten_megabyte_image_is_refused_with_413_without_reaching_catalog(
    stub: StubCatalog, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        response = await client.put(
            "/api/products/MUG-001/image",
            files={"image": ("big.png", b"\x89PNG" + b"\x00" * (10 * 1024 * 1024), "image/png")},
            headers={"X-API-Key": stub.admin_key},
        )

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["errors"][0]["field"] == "image"
    assert stub.requests == []


async def test_oversized_upload_without_content_length_is_cut_off_while_streaming(
    stub: StubCatalog, open_gateway: OpenGateway
) -> None:
    chunks_sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        for _ in range(100):
            chunks_sent += 1
            yield b"\x00" * (256 * 1024)

    async with open_gateway(IMAGE_UPLOAD_MAX_BYTES=1024 * 1024) as client:
        response = await client.put(
            "/api/products/MUG-001/image",
            content=chunks(),
            headers={"X-API-Key": stub.admin_key, "Content-Type": "multipart/form-data; boundary=x"},
        )

    assert response.status_code == 413
    assert chunks_sent < 100
    assert stub.requests == []


async def test_image_read_passes_caching_headers_and_conditional_requests(
    stub: StubCatalog, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        image = await client.get(f"/api/images/{stub.image_name}")
        revalidated = await client.get(
            f"/api/images/{stub.image_name}", headers={"If-None-Match": image.headers["etag"]}
        )
        traversal = await client.get("/api/images/..%2Fsecrets")

    assert image.status_code == 200
    assert image.content == stub.image_bytes
    assert image.headers["content-type"] == "image/png"
    assert "immutable" in image.headers["cache-control"]
    assert revalidated.status_code == 304
    assert traversal.status_code in (404, 422)
    assert len(stub.requests) == 2


async def test_catalog_500_becomes_502_problem(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    stub.fail_status = 500
    async with open_gateway() as client:
        response = await client.get("/api/products/MUG-001")

    assert response.status_code == 502
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["type"].endswith("/upstream-error")
    assert problem["upstream"] == "catalog"


async def test_unknown_route_is_404_problem(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert orjson.loads(response.content)["status"] == 404
    assert stub.requests == []


async def test_openapi_documents_the_contract_bodies_under_api(open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        spec = (await client.get("/api/openapi.json")).json()
        docs = await client.get("/api/docs")

    assert docs.status_code == 200
    create = spec["paths"]["/api/products"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ProductCreate")
    assert create["security"] == [{"AdminKey": []}]
    read = spec["paths"]["/api/products/{sku}"]["get"]["responses"]
    assert read["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Product")
    assert "application/problem+json" in read["503"]["content"]
    assert "multipart/form-data" in spec["paths"]["/api/products/{sku}/image"]["put"]["requestBody"]["content"]


def _fast_path_count(metrics: str) -> float:
    sample = 'http_requests_total{method="GET",route="/api/products/{sku}",status="422"} '
    return sum(float(line.removeprefix(sample)) for line in metrics.splitlines() if line.startswith(sample))


CHECKOUT = {"items": [{"sku": "MUG-001", "quantity": 1}], "customer": {"name": "Ada", "email": "ada@example.com"}}
JSON = {"content-type": "application/json"}
# name -> (method, path, headers, body, whether an Idempotency-Key is sent); keys are made per pass.
FAST_ROUTE_CASES: dict[str, tuple[str, str, dict[str, str], bytes, bool]] = {
    "product": ("GET", "/api/products/MUG-001", {}, b"", False),
    "product, bad sku": ("GET", "/api/products/bad%20sku!", {}, b"", False),
    "product, sku too long": ("GET", "/api/products/" + "A" * 65, {}, b"", False),
    "checkout": ("POST", "/api/orders", JSON, orjson.dumps(CHECKOUT), True),
    "checkout, no key": ("POST", "/api/orders", JSON, orjson.dumps(CHECKOUT), False),
    "checkout, bad key": ("POST", "/api/orders", {**JSON, "Idempotency-Key": "x"}, orjson.dumps(CHECKOUT), False),
    "checkout, no items": ("POST", "/api/orders", JSON, orjson.dumps({**CHECKOUT, "items": []}), True),
    "checkout, not JSON": ("POST", "/api/orders", JSON, b"{", True),
    "checkout, text/plain": ("POST", "/api/orders", {"content-type": "text/plain"}, orjson.dumps(CHECKOUT), True),
}


async def _fast_route_answers(client: httpx.AsyncClient, pass_name: str, upstream: list[Any]) -> dict[str, Any]:
    answers = {}
    for name, (method, path, headers, body, with_key) in FAST_ROUTE_CASES.items():
        key = {"Idempotency-Key": f"parity-{pass_name}-{name.replace(' ', '').replace(',', '')}"} if with_key else {}
        upstream.clear()
        response = await client.request(method, path, content=body, headers={**headers, **key})
        forwarded = [(seen.method, seen.path, seen.body) for seen in upstream]
        view = parity_view(
            response.status_code, response.headers, response.content, frozenset({"id", "request_id"}), ["location"]
        )
        answers[name] = (view, forwarded)
    return answers


async def test_the_fast_routes_answer_as_the_documented_routes(
    stub: StubCatalog, orders_stub: StubOrders, open_gateway: OpenGateway
) -> None:
    async with open_gateway() as client:
        app: FastAPI = client.app  # type: ignore[attr-defined]
        routes = {route.path: route for route in fast_routes(app)}
        before = _fast_path_count((await client.get("/metrics")).text)
        fast = await _fast_route_answers(client, "p", stub.requests)
        fast_orders = list(orders_stub.requests)
        orders_stub.reset()
        with documented_routes_only(app):
            documented = await _fast_route_answers(client, "p", stub.requests)
        documented_orders = list(orders_stub.requests)
        spec = (await client.get("/api/openapi.json")).json()
        after = _fast_path_count((await client.get("/metrics")).text)

    assert fast == documented
    assert [(seen.method, seen.path, seen.body) for seen in fast_orders] == [
        (seen.method, seen.path, seen.body) for seen in documented_orders
    ]
    statuses = {name: answer[0][0] for name, answer in fast.items()}
    assert statuses == {
        "product": 200,
        "checkout": 201,
        **{name: 422 for name in FAST_ROUTE_CASES if name not in {"product", "checkout"}},
    }
    assert fast["product, bad sku"][1] == []  # refused before catalog
    assert [e["field"] for e in fast["product, bad sku"][0][3]["errors"]] == ["sku"]
    assert len(fast_orders) == 1  # only the valid checkout reached orders
    assert "get" in spec["paths"]["/api/products/{sku}"]  # both still documented
    assert "post" in spec["paths"]["/api/orders"]
    # Both paths were taken.
    assert (routes["/api/products/{sku}"].served, routes["/api/products/{sku}"].declined) == (1, 2)
    assert (routes["/api/orders"].served, routes["/api/orders"].declined) == (1, 5)
    # Counted (and access-logged) under its template, not <unmatched>, on either path: the
    # product-read SLO selects this route. Compared before and after, as the metrics registry is
    # the process's.
    assert after == before + 4
