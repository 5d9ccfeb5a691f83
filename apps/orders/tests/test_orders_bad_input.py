"""Bad checkouts: each a 4xx problem+json naming what is wrong, and nothing ordered or reserved.

These share one shop (module scope): none of them may change anything, which each one checks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from .conftest import CUSTOMER, Shop, assert_problem, running_shop

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def quiet_shop(
    tmp_path_factory: pytest.TempPathFactory, database_templates: dict[str, Path]
) -> AsyncIterator[Shop]:
    async with running_shop(tmp_path_factory.mktemp("bad-input"), database_templates) as shop:
        await shop.add_product("MUG-001", stock=5)
        yield shop


def _body(*lines: tuple[str, int]) -> dict[str, object]:
    return {"items": [{"sku": sku, "quantity": q} for sku, q in lines], "customer": CUSTOMER}


@pytest.mark.parametrize(
    ("content", "headers", "mentions"),
    [
        (_body(("MUG-001", 0)), {}, "items[0].quantity"),
        (_body(("MUG-001", 1000)), {}, "items[0].quantity"),
        (_body(), {}, "items"),
        ({"items": [{"sku": f"S-{i}", "quantity": 1} for i in range(51)], "customer": CUSTOMER}, {}, "items"),
        (_body(("MUG-001", 1), ("MUG-001", 2)), {}, "listed twice"),
        (_body(("bad sku!", 1)), {}, "items[0].sku"),
        ({"items": [{"sku": "MUG-001", "quantity": 1}]}, {}, "customer"),
        ({**_body(("MUG-001", 1)), "coupon": "FREE"}, {}, "coupon"),
        ({"items": [{"sku": "MUG-001", "quantity": 1}], "customer": {**CUSTOMER, "email": "nope"}}, {}, "email"),
        (b'{"items": [', {}, "not valid JSON"),
        (_body(("MUG-001", 1)), {"Idempotency-Key": None}, "Idempotency-Key"),
        (_body(("MUG-001", 1)), {"Idempotency-Key": "short"}, "Idempotency-Key"),
        (_body(("MUG-001", 1)), {"Idempotency-Key": "has spaces in it"}, "Idempotency-Key"),
    ],
    ids=[
        "quantity-0",
        "quantity-1000",
        "empty-items",
        "51-lines",
        "duplicate-sku",
        "bad-sku",
        "no-customer",
        "unknown-field",
        "bad-email",
        "malformed-json",
        "missing-key",
        "short-key",
        "bad-key",
    ],
)
async def test_bad_checkouts_are_422_naming_the_problem(
    quiet_shop: Shop, content: dict[str, object] | bytes, headers: dict[str, str | None], mentions: str
) -> None:
    shop = quiet_shop
    sent = {"Idempotency-Key": "key-0123456789", "Content-Type": "application/json", **headers}
    payload = content if isinstance(content, bytes) else None
    response = await shop.orders.post(
        "/orders",
        content=payload,
        json=None if payload is not None else content,
        headers={k: v for k, v in sent.items() if v is not None},
    )
    assert_problem(response, 422, mentions=mentions)
    assert await shop.stock("MUG-001") == 5
    assert (await shop.orders.get("/orders")).json()["total"] == 0
