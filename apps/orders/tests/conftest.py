"""The orders app in-process, in front of the REAL catalog app served by uvicorn on a loopback port.

orders reaches catalog through its ServiceClient over real sockets, so outages are real: a
stopped catalog refuses connections, and `faults` make catalog's reservation route answer 503 or
answer late (after reserving, as a slow catalog would). Both databases are migrated once per
session into SQLite templates that each test copies; PostgreSQL tests migrate fresh databases.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from starlette.types import Receive, Scope, Send

from catalog.__main__ import MIGRATIONS_DIR as CATALOG_MIGRATIONS
from catalog.app import create_app as create_catalog_app
from catalog.settings import CatalogSettings
from orders.__main__ import MIGRATIONS_DIR as ORDERS_MIGRATIONS
from orders.app import create_app as create_orders_app
from orders.models import OrderRow
from orders.settings import OrdersSettings
from shopfloor_common.db import upgrade_to_head, utcnow
from shopfloor_common.localserver import ThreadedServer

ADMIN_KEY = "orders-test-admin-key-0123456789"
ADMIN = {"X-API-Key": ADMIN_KEY}
PROBLEM_JSON = "application/problem+json"
CUSTOMER = {"name": "Ada Lovelace", "email": "ada@example.com", "address": "12 Analytical Row"}


@dataclass
class Faults:
    """What the catalog server does to POST /reservations: answer `status` instead, or answer
    after `delay_seconds` (having reserved, like a catalog that is slow, not down)."""

    status: int | None = None
    delay_seconds: float = 0.0
    reservation_posts: int = 0


class FaultyCatalog:
    def __init__(self, app: FastAPI, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/reservations":
            self.faults.reservation_posts += 1
            if self.faults.status is not None:
                body = orjson.dumps({"type": "about:blank", "title": "fault", "status": self.faults.status})
                headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": self.faults.status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            if self.faults.delay_seconds:
                delay = self.faults.delay_seconds

                async def send_late(message: Any) -> None:
                    if message["type"] == "http.response.start":
                        await asyncio.sleep(delay)
                    await send(message)

                await self.app(scope, receive, send_late)
                return
        await self.app(scope, receive, send)


class CatalogServer:
    """The real catalog app on a loopback port; stop() and start() take it away and bring it back
    on the same port (each start builds a fresh app: its engine belongs to the server's loop)."""

    def __init__(self, database_url: str, image_dir: Path) -> None:
        self.database_url = database_url
        self.image_dir = image_dir
        self.faults = Faults()
        self._server = ThreadedServer(lifespan="on")
        self.port = self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> None:
        settings = CatalogSettings(
            database_url=self.database_url,
            admin_api_key=ADMIN_KEY,
            image_dir=self.image_dir,
            access_log=False,
            environment="test",
            # The tests are about outcomes under contention, not latency: a queued connection waits.
            db_pool_timeout_seconds=60,
        )
        self._server.serve(FaultyCatalog(create_catalog_app(settings), self.faults))

    def stop(self) -> None:
        self._server.shutdown()


@dataclass
class Shop:
    orders: httpx.AsyncClient
    catalog: httpx.AsyncClient
    catalog_server: CatalogServer
    app: FastAPI
    orders_database_url: str
    created: list[str] = field(default_factory=list)

    async def add_product(self, sku: str, *, stock: int = 10, price_cents: int = 1000, **fields: Any) -> None:
        body = {"sku": sku, "name": f"Product {sku}", "category": "test", "price_cents": price_cents, "stock": stock}
        response = await self.catalog.post("/products", json={**body, **fields}, headers=ADMIN)
        assert response.status_code == 201, response.text

    async def stock(self, sku: str) -> int:
        response = await self.catalog.get(f"/products/{sku}")
        assert response.status_code == 200, response.text
        stock: int = response.json()["stock"]
        return stock

    async def checkout(
        self, *lines: tuple[str, int], key: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        body = {"items": [{"sku": sku, "quantity": quantity} for sku, quantity in lines], "customer": CUSTOMER}
        all_headers = {"Idempotency-Key": key or f"key-{uuid.uuid4().hex}", **(headers or {})}
        return await self.orders.post("/orders", json=body, headers=all_headers)

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self.orders.get(f"/orders/{order_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def reconcile(self) -> int:
        """One reconciler pass, run by the test rather than by the clock."""
        worked: int = await self.app.state.reconciler.run_once()
        return worked

    async def make_due(self, order_id: str) -> None:
        """Let time pass for one order: whatever the reconciler would do to it later is due now."""
        sessions = self.app.state.service.orders.sessions
        async with sessions() as session, session.begin():
            await session.execute(
                update(OrderRow)
                .where(OrderRow.id == order_id, OrderRow.reconcile_after.is_not(None))
                .values(reconcile_after=utcnow() - timedelta(seconds=1))
            )

    async def wait_for_status(self, order_id: str, wanted: str, timeout_seconds: float = 10.0) -> dict[str, Any]:
        """The order once it has `wanted` status (the background reconciler gets it there)."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            order = await self.order(order_id)
            if order["status"] == wanted:
                return order
            assert time.monotonic() < deadline, f"order still {order['status']}, not {wanted}: {order}"
            await asyncio.sleep(0.05)


def orders_settings(database_url: str, catalog_url: str, **overrides: Any) -> OrdersSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "catalog_url": catalog_url,
        "admin_api_key": ADMIN_KEY,
        "access_log": False,
        "environment": "test",
        "catalog_timeout_seconds": 2.0,
        "catalog_max_attempts": 2,
        "catalog_breaker_reset_seconds": 0.2,
        # The clock-driven reconciler stays out of the way unless a test asks for it; tests run
        # passes themselves (Shop.reconcile) after making the work due (Shop.make_due).
        "reconcile_interval_seconds": 3600,
        "pending_timeout_seconds": 30,
        **{name.lower(): value for name, value in overrides.items()},
    }
    return OrdersSettings(**values)


@pytest.fixture(scope="session")
def database_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A migrated SQLite database per service, made once, for tests to copy."""
    folder = tmp_path_factory.mktemp("templates")
    templates = {"catalog": folder / "catalog.db", "orders": folder / "orders.db"}
    upgrade_to_head(CATALOG_MIGRATIONS, f"sqlite+aiosqlite:///{templates['catalog']}")
    upgrade_to_head(ORDERS_MIGRATIONS, f"sqlite+aiosqlite:///{templates['orders']}")
    return templates


async def prepare_database(service: str, url: str, templates: dict[str, Path]) -> str:
    """`url`, migrated: a new SQLite file is a copy of the template, anything else is migrated."""
    if url.startswith("sqlite") and not Path(url.split("///", 1)[1]).exists():
        shutil.copyfile(templates[service], url.split("///", 1)[1])
        return url
    migrations = CATALOG_MIGRATIONS if service == "catalog" else ORDERS_MIGRATIONS
    await asyncio.to_thread(upgrade_to_head, migrations, url)
    return url


@asynccontextmanager
async def running_shop(
    folder: Path,
    templates: dict[str, Path],
    orders_db: str | None = None,
    catalog_db: str | None = None,
    **overrides: Any,
) -> AsyncIterator[Shop]:
    """catalog serving on a port, orders in-process (lifespan and reconciler running) in front of it;
    databases not given are copies of the SQLite templates in `folder`."""
    catalog_url = await prepare_database("catalog", catalog_db or f"sqlite+aiosqlite:///{folder}/catalog.db", templates)
    orders_url = await prepare_database("orders", orders_db or f"sqlite+aiosqlite:///{folder}/orders.db", templates)
    server = CatalogServer(catalog_url, folder / "images")
    await asyncio.to_thread(server.start)
    try:
        app = create_orders_app(orders_settings(orders_url, server.url, **overrides))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orders") as orders,
            httpx.AsyncClient(base_url=server.url, timeout=30) as catalog,
        ):
            yield Shop(orders, catalog, server, app, orders_url)
    finally:
        await asyncio.to_thread(server.stop)


OpenShop = Callable[..., AbstractAsyncContextManager[Shop]]


@pytest.fixture
def open_shop(tmp_path: Path, database_templates: dict[str, Path]) -> OpenShop:
    """`async with open_shop(orders_db=..., catalog_db=..., SETTING=value) as shop:` see running_shop."""

    def open_(orders_db: str | None = None, catalog_db: str | None = None, **overrides: Any) -> Any:
        folder = tmp_path / uuid.uuid4().hex[:8]
        folder.mkdir()
        return running_shop(folder, database_templates, orders_db, catalog_db, **overrides)

    return open_


@pytest.fixture
async def shop(open_shop: OpenShop) -> AsyncIterator[Shop]:
    """Both services on SQLite."""
    async with open_shop() as opened:
        yield opened


@pytest.fixture
def catalog_postgres_url(postgres_url: str) -> Iterator[str]:
    """A second fresh PostgreSQL database, for catalog, next to `postgres_url` (orders')."""
    import asyncpg

    base, _, name = postgres_url.rpartition("/")
    catalog_name = f"{name}_catalog"
    admin_dsn = f"{base}/postgres".replace("postgresql+asyncpg://", "postgresql://")

    async def execute(sql: str) -> None:
        connection = await asyncpg.connect(admin_dsn, timeout=3)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(execute(f'CREATE DATABASE "{catalog_name}"'))
    yield f"{base}/{catalog_name}"
    asyncio.run(execute(f'DROP DATABASE IF EXISTS "{catalog_name}" WITH (FORCE)'))


def assert_problem(response: httpx.Response, status: int, *, mentions: str | None = None) -> dict[str, Any]:
    """A problem+json answer with `status`, whose detail or field errors mention `mentions`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert "Traceback" not in response.text
    if mentions is not None:
        named = body["detail"] + " " + " ".join(f"{e['field']} {e['message']}" for e in body.get("errors", []))
        assert mentions.lower() in named.lower(), body
    return body


@pytest.fixture(params=["sqlite", "postgres"])
def orders_db(request: pytest.FixtureRequest) -> str | None:
    """The orders database for a test that must hold on both: None is a SQLite copy (open_shop's default)."""
    return str(request.getfixturevalue("postgres_url")) if request.param == "postgres" else None
