from __future__ import annotations

import httpx
import pytest

from .conftest import ADMIN, assert_problem, create, product


async def test_list_paginates_filters_and_searches(catalog: httpx.AsyncClient) -> None:
    for index in range(5):
        await create(catalog, f"MUG-{index:03}", category="kitchen", name=f"Blue mug {index}")
    await create(catalog, "TEE-001", category="apparel", name="Plain tee", description="Cotton, mug-free")

    page = (await catalog.get("/products", params={"limit": 2, "offset": 1})).json()
    assert page["total"] == 6
    assert [p["sku"] for p in page["items"]] == ["MUG-001", "MUG-002"]

    kitchen = (await catalog.get("/products", params={"category": "apparel"})).json()
    assert [p["sku"] for p in kitchen["items"]] == ["TEE-001"]

    found = (await catalog.get("/products", params={"q": "BLUE"})).json()
    assert found["total"] == 5  # case-insensitive, on the name

    found = (await catalog.get("/products", params={"q": "mug-free"})).json()
    assert [p["sku"] for p in found["items"]] == ["TEE-001"]  # on the description

    wildcard = (await catalog.get("/products", params={"q": "%"})).json()
    assert wildcard["total"] == 0  # LIKE wildcards are escaped, not interpreted

    by_skus = (await catalog.get("/products", params={"skus": "TEE-001,MUG-003,NOPE"})).json()
    assert sorted(p["sku"] for p in by_skus["items"]) == ["MUG-003", "TEE-001"]


async def test_get_returns_the_product_or_404(catalog: httpx.AsyncClient) -> None:
    created = await create(catalog, "MUG-001", price_cents=1450, currency="EUR")
    got = (await catalog.get("/products/MUG-001")).json()
    assert got == created
    assert got["created_at"].endswith(("+00:00", "Z"))
    assert_problem(await catalog.get("/products/NOPE"), 404)


@pytest.mark.parametrize(
    ("headers", "status"), [({}, 401), ({"X-API-Key": "wrong-key-wrong-key"}, 403)], ids=["no-key", "wrong-key"]
)
async def test_admin_writes_need_the_key(catalog: httpx.AsyncClient, headers: dict[str, str], status: int) -> None:
    await create(catalog, "MUG-001")
    attempts = [
        catalog.post("/products", json=product("NEW-1"), headers=headers),
        catalog.patch("/products/MUG-001", json={"price_cents": 1}, headers=headers),
        catalog.delete("/products/MUG-001", headers=headers),
        catalog.put("/products/MUG-001/image", files={"image": ("a.png", b"x")}, headers=headers),
    ]
    for attempt in attempts:
        assert_problem(await attempt, status)
    assert (await catalog.get("/products/MUG-001")).json()["price_cents"] == 1000  # nothing changed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (product(price_cents=-1), "price_cents"),
        (product(unknown="x"), "unknown"),
        (product(sku="bad sku!"), "sku"),
        (product(currency="euro"), "currency"),
        (product(stock=-3), "stock"),
        ({"sku": "X-1"}, "name"),
    ],
    ids=["negative-price", "unknown-field", "bad-sku", "bad-currency", "negative-stock", "missing-fields"],
)
async def test_bad_product_input_is_a_422_naming_the_field(
    catalog: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    assert_problem(await catalog.post("/products", json=body, headers=ADMIN), 422, field=field)
    assert (await catalog.get("/products")).json()["total"] == 0  # nothing half-written


async def test_malformed_json_is_a_422(catalog: httpx.AsyncClient) -> None:
    response = await catalog.post(
        "/products", content=b"{not json", headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert_problem(response, 422)


@pytest.mark.parametrize(
    ("headers", "status"), [({}, 401), ({"X-API-Key": "wrong-key-wrong-key"}, 403)], ids=["no-key", "wrong-key"]
)
@pytest.mark.parametrize(
    "body", [b"{not json", b'{"sku": "bad sku!", "price_cents": -1}', b"[]"], ids=["malformed", "invalid", "array"]
)
async def test_the_key_is_checked_before_the_body(
    catalog: httpx.AsyncClient, headers: dict[str, str], status: int, body: bytes
) -> None:
    # A wrong key with a bad body used to get a 422 describing the product schema.
    await create(catalog, "MUG-001")
    headers = {**headers, "Content-Type": "application/json"}
    for response in (
        await catalog.post("/products", content=body, headers=headers),
        await catalog.patch("/products/MUG-001", content=body, headers=headers),
    ):
        assert_problem(response, status)
        assert "errors" not in response.json()


@pytest.mark.parametrize(("params", "field"), [({"limit": 100_000}, "limit"), ({"offset": -1}, "offset")])
async def test_bad_paging_is_a_422_naming_the_field(
    catalog: httpx.AsyncClient, params: dict[str, int], field: str
) -> None:
    assert_problem(await catalog.get("/products", params=params), 422, field=field)


async def test_duplicate_sku_is_a_409(catalog: httpx.AsyncClient) -> None:
    await create(catalog, "MUG-001", name="First")
    response = await catalog.post("/products", json=product("MUG-001", name="Second"), headers=ADMIN)
    body = assert_problem(response, 409)
    assert body["field"] == "sku"
    assert (await catalog.get("/products/MUG-001")).json()["name"] == "First"


async def test_update_and_delete(catalog: httpx.AsyncClient) -> None:
    await create(catalog, "MUG-001")
    updated = await catalog.patch("/products/MUG-001", json={"price_cents": 2500, "stock": 9}, headers=ADMIN)
    assert updated.status_code == 200
    assert (updated.json()["price_cents"], updated.json()["stock"]) == (2500, 9)
    assert_problem(await catalog.patch("/products/MUG-001", json={"sku": "OTHER"}, headers=ADMIN), 422, field="sku")
    assert_problem(await catalog.patch("/products/MUG-001", json={"name": None}, headers=ADMIN), 422, field="name")
    assert_problem(await catalog.patch("/products/NOPE", json={"stock": 1}, headers=ADMIN), 404)

    assert (await catalog.delete("/products/MUG-001", headers=ADMIN)).status_code == 204
    assert_problem(await catalog.get("/products/MUG-001"), 404)
    assert_problem(await catalog.delete("/products/MUG-001", headers=ADMIN), 404)


async def test_cached_reads_are_invalidated_by_writes(catalog: httpx.AsyncClient) -> None:
    await create(catalog, "MUG-001", price_cents=1000)
    assert (await catalog.get("/products/MUG-001")).json()["price_cents"] == 1000  # now cached
    assert (await catalog.get("/products")).json()["total"] == 1

    await catalog.patch("/products/MUG-001", json={"price_cents": 1999}, headers=ADMIN)
    await create(catalog, "MUG-002")
    assert (await catalog.get("/products/MUG-001")).json()["price_cents"] == 1999
    assert (await catalog.get("/products")).json()["total"] == 2
