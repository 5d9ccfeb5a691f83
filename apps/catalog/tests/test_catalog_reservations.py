from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from .conftest import CatalogFactory, assert_problem, create, stock_of


def reservation(order_id: str, *lines: tuple[str, int]) -> dict[str, object]:
    return {"order_id": order_id, "items": [{"sku": sku, "quantity": q} for sku, q in lines]}


async def test_reserve_is_all_or_nothing(catalog: httpx.AsyncClient) -> None:
    await create(catalog, "A-1", stock=5)
    await create(catalog, "B-1", stock=1)
    refused = await catalog.post("/reservations", json=reservation("o-1", ("A-1", 2), ("B-1", 3)))
    body = assert_problem(refused, 409)
    assert body["insufficient"] == [{"sku": "B-1", "requested": 3, "available": 1}]
    assert (await stock_of(catalog, "A-1"), await stock_of(catalog, "B-1")) == (5, 1)  # nothing taken
    assert_problem(await catalog.get("/reservations/o-1"), 404)  # and no reservation recorded

    unknown = await catalog.post("/reservations", json=reservation("o-2", ("A-1", 1), ("GHOST", 1)))
    assert assert_problem(unknown, 404)["unknown_skus"] == ["GHOST"]
    assert await stock_of(catalog, "A-1") == 5

    done = await catalog.post("/reservations", json=reservation("o-3", ("A-1", 2), ("B-1", 1), ("A-1", 1)))
    assert done.status_code == 201
    assert done.json()["items"] == [{"sku": "A-1", "quantity": 3}, {"sku": "B-1", "quantity": 1}]  # merged
    assert (await stock_of(catalog, "A-1"), await stock_of(catalog, "B-1")) == (2, 0)


async def test_reserving_the_same_order_again_reserves_nothing_more(catalog: httpx.AsyncClient) -> None:
    await create(catalog, "A-1", stock=5)
    first = await catalog.post("/reservations", json=reservation("o-1", ("A-1", 2)))
    again = await catalog.post("/reservations", json=reservation("o-1", ("A-1", 2)))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert await stock_of(catalog, "A-1") == 3

    other_items = await catalog.post("/reservations", json=reservation("o-1", ("A-1", 1)))
    assert assert_problem(other_items, 409)["type"].endswith("reservation-conflict")
    assert await stock_of(catalog, "A-1") == 3


async def test_release_gives_stock_back_once(catalog: httpx.AsyncClient) -> None:
    await create(catalog, "A-1", stock=5)
    await catalog.post("/reservations", json=reservation("o-1", ("A-1", 4)))
    first = await catalog.post("/reservations/o-1/release")
    second = await catalog.post("/reservations/o-1/release")
    assert first.status_code == second.status_code == 200
    assert second.json()["status"] == "released"
    assert second.json()["released_at"] is not None
    assert await stock_of(catalog, "A-1") == 5
    assert_problem(await catalog.post("/reservations/nope/release"), 404)
    # A released order id stays used: reserving it again is the same (released) reservation.
    again = await catalog.post("/reservations", json=reservation("o-1", ("A-1", 4)))
    assert again.json()["status"] == "released"
    assert await stock_of(catalog, "A-1") == 5


@pytest.mark.parametrize(
    "body",
    [
        reservation("o-1"),
        reservation("o-1", ("A-1", 0)),
        reservation("o-1", ("A-1", 101)),
        reservation("bad id!", ("A-1", 1)),
        {"order_id": "o-1", "items": [{"sku": "A-1", "quantity": 1, "price": 5}]},
    ],
    ids=["no-items", "zero", "too-many", "bad-order-id", "unknown-field"],
)
async def test_bad_reservations_are_422(catalog: httpx.AsyncClient, body: dict[str, object]) -> None:
    await create(catalog, "A-1", stock=5)
    assert_problem(await catalog.post("/reservations", json=body), 422)
    assert await stock_of(catalog, "A-1") == 5


async def test_concurrent_reservations_never_oversell_on_postgres(
    make_catalog: CatalogFactory, postgres_url: str
) -> None:
    """The acceptance case: 50 concurrent single-unit reservations against stock 10."""
    catalog: httpx.AsyncClient = await make_catalog(postgres_url, db_pool_size=20, db_max_overflow=30)
    await create(catalog, "HOT-1", stock=10)

    async def reserve(index: int) -> int:
        response = await catalog.post("/reservations", json=reservation(f"order-{index}", ("HOT-1", 1)))
        return response.status_code

    statuses = await asyncio.gather(*(reserve(i) for i in range(50)))
    assert statuses.count(201) == 10
    assert statuses.count(409) == 40
    assert await stock_of(catalog, "HOT-1") == 0

    repeats = await asyncio.gather(*(reserve(i) for i in range(50)))
    assert repeats.count(201) == 0  # the ten winners answer 200, the rest are still short
    assert repeats.count(200) == 10
    assert await stock_of(catalog, "HOT-1") == 0


# One line is PostgreSQL's one-statement path, two lines the transaction.
@pytest.mark.parametrize("lines", [(("A-1", 1),), (("B-1", 1), ("A-1", 1))], ids=["one line", "two lines"])
async def test_concurrent_twins_of_one_order_reserve_once_on_postgres(
    make_catalog: CatalogFactory, postgres_url: str, lines: tuple[tuple[str, int], ...]
) -> None:
    catalog: httpx.AsyncClient = await make_catalog(postgres_url, db_pool_size=20, db_max_overflow=10)
    await create(catalog, "A-1", stock=100)
    await create(catalog, "B-1", stock=100)
    statuses = await asyncio.gather(
        *(catalog.post("/reservations", json=reservation("twin", *lines)) for _ in range(20))
    )
    assert sorted(r.status_code for r in statuses) == [200] * 19 + [201]
    reserved = {sku for sku, _ in lines}
    expected = tuple(99 if sku in reserved else 100 for sku in ("A-1", "B-1"))
    assert (await stock_of(catalog, "A-1"), await stock_of(catalog, "B-1")) == expected


async def test_concurrent_reservations_on_sqlite(make_catalog: CatalogFactory, sqlite_url: str) -> None:
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url)
    await create(catalog, "HOT-1", stock=5)
    statuses = await asyncio.gather(
        *(catalog.post("/reservations", json=reservation(f"o-{i}", ("HOT-1", 1))) for i in range(15))
    )
    assert sorted(s.status_code for s in statuses) == [201] * 5 + [409] * 10
    assert await stock_of(catalog, "HOT-1") == 0


async def detect_deadlocks_within(database_url: str, milliseconds: int) -> None:
    """Lower PostgreSQL's deadlock_timeout (1 s) on this test database, so a deadlock fails its
    transaction at once rather than after a second per deadlock; a server where the test's user
    may not change it (a superuser setting) only makes a deadlock slower to show."""
    name = make_url(database_url).database
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(f"ALTER DATABASE \"{name}\" SET deadlock_timeout = '{milliseconds}ms'")
    except asyncpg.InsufficientPrivilegeError:
        pass
    finally:
        await connection.close()


async def test_orders_over_the_same_skus_in_opposite_order_do_not_deadlock_on_postgres(
    make_catalog: CatalogFactory, postgres_url: str
) -> None:
    """Half the orders list (A, B), half (B, A): each line locks its product row until commit, so
    only taking the lines in one order (the repository sorts them by sku) keeps two transactions
    from each holding the row the other waits for. PostgreSQL breaks such a deadlock by failing
    one of them: a 500 for a good order."""
    await detect_deadlocks_within(postgres_url, 100)
    catalog: httpx.AsyncClient = await make_catalog(postgres_url, db_pool_size=20, db_max_overflow=10)
    orders = 40
    await create(catalog, "A-1", stock=orders)
    await create(catalog, "B-1", stock=orders)

    async def reserve(index: int) -> int:
        lines = (("A-1", 1), ("B-1", 1)) if index % 2 else (("B-1", 1), ("A-1", 1))
        response = await catalog.post("/reservations", json=reservation(f"order-{index}", *lines))
        return response.status_code

    outcomes = await asyncio.gather(*(reserve(i) for i in range(orders)), return_exceptions=True)
    failures = [o for o in outcomes if o != 201]
    assert failures == [], f"{len(failures)} of {orders} reservations failed, e.g. {failures[:3]!r}"
    assert (await stock_of(catalog, "A-1"), await stock_of(catalog, "B-1")) == (0, 0)
