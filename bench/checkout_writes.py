"""What a checkout's database writes cost in CPU and statements, with the writes as one statement
each (PostgreSQL's path) against the same writes one by one in a transaction (SQLite's path, run
here on PostgreSQL), measured side by side in one run (docs/performance.md, "Checkout writes").

    .venv/bin/python bench/checkout_writes.py [--orders 2000] [--rounds 2] [--json]

One "order" is what orders and catalog write for a checkout: orders writes the PENDING order
(order, line, event; the Idempotency-Key is looked up only when that insert finds it taken) and
settles it (UPDATE + event); catalog reserves
one unit of one hot product (reservation, line, guarded stock UPDATE). 16 run at once, as the
bench's 16 VUs do. CPU is this process's (the repositories' Python: SQLAlchemy, asyncpg) and the
PostgreSQL backends' of the two databases, read from /proc (shopfloor.measure.cpu); statements
are the cursor executions SQLAlchemy sends (BEGIN, COMMIT and the pool's ping come on top).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy import event

from catalog.repository import ProductRepository, ReservationRepository
from orders.repository import NewOrder, OrderRepository, PricedLine
from shopfloor.measure.cpu import CpuMeter, postgres_backends
from shopfloor_common.contracts.catalog import ProductCreate, ReservationLine
from shopfloor_common.contracts.orders import Customer
from shopfloor_common.db import create_engine, session_factory, upgrade_to_head, utcnow
from shopfloor_common.settings import DatabaseSettings

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 16
HOT_SKU = "BENCH-HOT"
CUSTOMER = Customer(name="Bench Buyer", email="buyer@example.com", address="1 Loop Road")


def new_order() -> NewOrder:
    return NewOrder(
        id=f"ord_{uuid.uuid4().hex}",
        idempotency_key=uuid.uuid4().hex,
        request_hash="0" * 64,
        customer=CUSTOMER,
        lines=[PricedLine(sku=HOT_SKU, name="Hot item", quantity=1, unit_price_cents=1200)],
        currency="USD",
        reconcile_after=utcnow() + timedelta(seconds=30),
    )


class Shop:
    """The two repositories on fresh databases, and a count of the statements they send."""

    def __init__(self, server: str, prefix: str) -> None:
        self.server, self.prefix = server, prefix
        self.statements = 0

    async def __aenter__(self) -> Shop:
        admin = await asyncpg.connect(self.server.replace("postgresql+asyncpg", "postgresql"))
        try:
            for name in ("orders", "catalog"):
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.prefix}{name}"')
                await admin.execute(f'CREATE DATABASE "{self.prefix}{name}"')
        finally:
            await admin.close()
        urls = {name: f"{self.server}/{self.prefix}{name}" for name in ("orders", "catalog")}
        for name, url in urls.items():
            await asyncio.to_thread(upgrade_to_head, ROOT / "apps" / name / "src" / name / "migrations", url)
        self.engines = [create_engine(DatabaseSettings(database_url=url)) for url in urls.values()]
        for engine in self.engines:
            event.listen(engine.sync_engine, "before_cursor_execute", self._count)
        self.orders = OrderRepository(self.engines[0])
        self.reservations = ReservationRepository(self.engines[1])
        await ProductRepository(session_factory(self.engines[1])).create(
            ProductCreate(sku=HOT_SKU, name="Hot item", category="bench", price_cents=1200, stock=1_000_000)
        )
        return self

    def _count(self, *_: Any) -> None:
        self.statements += 1

    async def __aexit__(self, *_: object) -> None:
        for engine in self.engines:
            await engine.dispose()
        admin = await asyncpg.connect(self.server.replace("postgresql+asyncpg", "postgresql"))
        try:
            for name in ("orders", "catalog"):
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.prefix}{name}"')
        finally:
            await admin.close()

    def one_statement_writes(self, on: bool) -> None:
        self.orders.writes_in_one_statement = self.reservations.writes_in_one_statement = on

    async def checkout_writes(self) -> None:
        new = new_order()
        row = await self.orders.insert_pending(new, "bench")
        _, created, _ = await self.reservations.reserve(new.id, [ReservationLine(sku=HOT_SKU, quantity=1)])
        if not created or not await self.orders.settle_pending(row, "CONFIRMED", "stock reserved", "bench"):
            raise AssertionError(f"order {new.id} was not reserved and settled")


async def measure(shop: Shop, orders: int, one_statement: bool) -> dict[str, float]:
    shop.one_statement_writes(one_statement)
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(work: Callable[[], Awaitable[None]]) -> None:
        async with slots:
            await work()

    await asyncio.gather(*(one(shop.checkout_writes) for _ in range(50)))  # warm: pool, prepared statements
    meter = CpuMeter({"python": lambda: [os.getpid()], "postgres": postgres_backends(shop.prefix)})
    statements_before = shop.statements
    meter.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(one(shop.checkout_writes) for _ in range(orders)))
    seconds = loop.time() - started
    cpu = await meter.stop()
    return {
        "orders_per_second": orders / seconds,
        "python_ms": cpu["python"] / orders * 1000,
        "postgres_ms": cpu["postgres"] / orders * 1000,
        "statements": (shop.statements - statements_before) / orders,
    }


async def run(server: str, orders: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    results: dict[str, list[dict[str, float]]] = {"one statement": [], "one by one": []}
    async with Shop(server, f"bench_writes_{uuid.uuid4().hex[:8]}_") as shop:
        for round_number in range(rounds):
            for name in results:  # taking turns: both see the same machine
                figures = await measure(shop, orders, one_statement=name == "one statement")
                results[name].append(figures)
                print(f"round {round_number + 1}/{rounds} {name}: {_line(figures)}", file=sys.stderr, flush=True)
    return results


def _line(figures: dict[str, float]) -> str:
    total = figures["python_ms"] + figures["postgres_ms"]
    return (
        f"{figures['orders_per_second']:6.0f} orders/s, CPU per order {total:.2f} ms "
        f"(Python {figures['python_ms']:.2f} + PostgreSQL {figures['postgres_ms']:.2f}), "
        f"{figures['statements']:.0f} statements"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000, help="orders per variant and round (default 2000)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, the variants taking turns (default 2)")
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432", help="PostgreSQL server"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not 1 <= args.orders <= 100_000 or not 1 <= args.rounds <= 10:
        parser.error("--orders must be 1-100000 and --rounds 1-10")
    try:
        results = asyncio.run(run(args.database_url.rstrip("/"), args.orders, args.rounds))
    except (OSError, asyncpg.PostgresError) as exc:
        sys.exit(f"checkout_writes: cannot use PostgreSQL at {args.database_url}: {exc}")
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
        return
    for name, rounds in results.items():
        for figures in rounds:
            print(f"{name:>14}: {_line(figures)}")


if __name__ == "__main__":
    main()
