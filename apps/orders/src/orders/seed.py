"""Demo orders for a new local shop, placed through the real checkout so that catalog's stock
stays consistent with them (stock held = units of CONFIRMED, PAID, SHIPPED, DELIVERED orders).

Seeding needs catalog: `shopfloor run` prepares the services side by side, so this waits for
catalog's /readyz (up to CATALOG_WAIT_SECONDS). When catalog does not come, it says so and seeds
nothing rather than invent orders whose stock nobody reserved. It only runs on an empty orders
table, and the demo orders use catalog's demo skus (catalog/seed.py); a sku catalog does not
have skips that order.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from orders.app import catalog_client
from orders.catalog_client import CatalogStock
from orders.repository import OrderRepository
from orders.service import OrderService
from orders.settings import OrdersSettings
from shopfloor_common.contracts.orders import Customer, OrderCreate, OrderLineRequest
from shopfloor_common.db import create_engine
from shopfloor_common.errors import Problem

CATALOG_WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class DemoOrder:
    key: str
    customer: Customer
    lines: tuple[tuple[str, int], ...]
    then: tuple[str, ...] = ()  # lifecycle moves after checkout


ADA = Customer(name="Ada Lovelace", email="ada@example.com", address="12 Analytical Row, London")
GRACE = Customer(name="Grace Hopper", email="grace@example.com", address="1 Compiler Way, Arlington")
LINUS = Customer(name="Linus Torvalds", email="linus@example.com", address="")

DEMO_ORDERS = (
    DemoOrder("demo-order-confirmed", ADA, (("MUG-001", 2), ("BOOK-SRE", 1))),
    DemoOrder("demo-order-paid", GRACE, (("TEE-BLK-M", 1),), then=("PAID",)),
    DemoOrder("demo-order-shipped", LINUS, (("KETTLE-01", 1), ("MUG-002", 1)), then=("PAID", "SHIPPED")),
    DemoOrder("demo-order-delivered", ADA, (("STICKER-PACK", 3),), then=("PAID", "SHIPPED", "DELIVERED")),
    DemoOrder("demo-order-cancelled", GRACE, (("HOODIE-GRY", 1),), then=("CANCELLED",)),
    # Two of a product catalog has one of: REJECTED, naming the sku.
    DemoOrder("demo-order-rejected", LINUS, (("LAST-ONE", 2),)),
)


async def seed_demo_orders(settings: OrdersSettings, catalog_wait_seconds: float = CATALOG_WAIT_SECONDS) -> int:
    engine = create_engine(settings)
    client = catalog_client(settings)
    try:
        orders = OrderRepository(engine)
        if await orders.count():
            return 0
        catalog = CatalogStock(client)
        if not await catalog.wait_ready(catalog_wait_seconds):
            print(
                f"orders: catalog at {settings.catalog_url} was not ready within {catalog_wait_seconds:g}s; "
                "no demo orders seeded (they must reserve real stock). Run `orders seed` once catalog is up.",
                file=sys.stderr,
            )
            return 0
        service = OrderService(orders, catalog, settings)
        placed = 0
        for demo in DEMO_ORDERS:
            body = OrderCreate(
                items=[OrderLineRequest(sku=sku, quantity=quantity) for sku, quantity in demo.lines],
                customer=demo.customer,
            )
            try:
                row = (await service.place(demo.key, body)).row
                for status in demo.then if row.status == "CONFIRMED" else ():
                    row = await service.transition(row.id, status, "demo data")
            except Problem as exc:
                print(f"orders: demo order {demo.key} skipped: {exc.detail}", file=sys.stderr)
                continue
            placed += 1
        return placed
    finally:
        await client.close()
        await engine.dispose()
