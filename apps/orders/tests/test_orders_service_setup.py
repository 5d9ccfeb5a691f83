"""Settings, migrations, metrics, readiness and the demo seed."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from catalog.seed import DEMO_PRODUCTS, seed_demo_products
from catalog.settings import CatalogSettings
from orders.models import Base
from orders.seed import DEMO_ORDERS, seed_demo_orders
from orders.settings import OrdersSettings
from shopfloor_common.contracts.orders import HOLDS_STOCK
from shopfloor_common.db import create_engine
from shopfloor_common.localserver import free_port
from shopfloor_common.settings import load_settings

from .conftest import ADMIN_KEY, OpenShop, Shop, orders_settings


def test_defaults_and_the_reconciler_timing_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_API_KEY", ADMIN_KEY)
    for name in ("DATABASE_URL", "CATALOG_URL", "PORT", "SERVICE_NAME", "PENDING_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    settings = OrdersSettings()
    assert (settings.service_name, settings.port) == ("orders", 8082)
    assert settings.database_url == "sqlite+aiosqlite:///var/local/orders.db"
    assert settings.catalog_url == "http://127.0.0.1:8081"
    assert (settings.reconcile_interval_seconds, settings.pending_timeout_seconds) == (5.0, 10.0)
    assert all(field.description for field in OrdersSettings.model_fields.values())

    with pytest.raises(ValidationError, match="PENDING_TIMEOUT_SECONDS"):
        OrdersSettings(
            admin_api_key=ADMIN_KEY, catalog_timeout_seconds=3, catalog_max_attempts=2, pending_timeout_seconds=6
        )


def test_a_bad_variable_stops_the_service_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADMIN_API_KEY", ADMIN_KEY)
    monkeypatch.setenv("RECONCILE_INTERVAL_SECONDS", "soon")
    with pytest.raises(SystemExit) as exit_info:
        load_settings(OrdersSettings)
    assert exit_info.value.code == 2
    assert "RECONCILE_INTERVAL_SECONDS" in capsys.readouterr().err


def _differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


async def test_migrations_match_the_models(database_templates: dict[str, Path], postgres_url: str) -> None:
    from orders.__main__ import MIGRATIONS_DIR
    from shopfloor_common.db import upgrade_to_head

    await asyncio.to_thread(upgrade_to_head, MIGRATIONS_DIR, postgres_url)
    for url in (f"sqlite+aiosqlite:///{database_templates['orders']}", postgres_url):
        engine = create_engine(OrdersSettings(database_url=url, admin_api_key=ADMIN_KEY))
        try:
            async with engine.connect() as connection:
                assert await connection.run_sync(_differences) == [], url
        finally:
            await engine.dispose()


async def test_readiness_is_the_database_only_and_metrics_count_checkouts(shop: Shop) -> None:
    await shop.add_product("MUG-001", stock=5)
    await shop.checkout(("MUG-001", 1))
    metrics = (await shop.orders.get("/metrics")).text
    assert 'orders_created_total{outcome="confirmed"}' in metrics
    assert 'orders_transitions_total{from="PENDING",to="CONFIRMED"}' in metrics
    assert 'orders_reservation_duration_seconds_count{outcome="reserved"}' in metrics

    await asyncio.to_thread(shop.catalog_server.stop)
    ready = await shop.orders.get("/readyz")
    assert (ready.status_code, ready.json()["checks"]) == (200, ["database"])


async def test_seed_places_demo_orders_through_catalog_keeping_stock_consistent(
    shop: Shop, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    catalog_url = shop.catalog_server.database_url
    # The seed draws a picture per product: into the test's folder, not the repo's var/local.
    await seed_demo_products(
        CatalogSettings(database_url=catalog_url, admin_api_key=ADMIN_KEY, image_dir=tmp_path / "images")
    )
    settings = orders_settings(shop.orders_database_url, shop.catalog_server.url)

    assert await seed_demo_orders(settings) == len(DEMO_ORDERS)
    assert await seed_demo_orders(settings) == 0  # only into an empty orders table

    orders = (await shop.orders.get("/orders", params={"limit": 100})).json()["items"]
    assert Counter(o["status"] for o in orders) == {
        "CONFIRMED": 1,
        "PAID": 1,
        "SHIPPED": 1,
        "DELIVERED": 1,
        "CANCELLED": 1,
        "REJECTED": 1,
    }
    held = Counter[str]()
    for order in orders:
        if order["status"] in HOLDS_STOCK:
            held.update({line["sku"]: line["quantity"] for line in order["items"]})
    for product in DEMO_PRODUCTS:
        assert await shop.stock(product.sku) + held[product.sku] == product.stock, product.sku


async def test_seed_without_catalog_seeds_nothing_and_says_why(
    open_shop: OpenShop, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_shop() as shop:
        settings = orders_settings(shop.orders_database_url, f"http://127.0.0.1:{free_port()}")
        assert await seed_demo_orders(settings, catalog_wait_seconds=0.3) == 0
        assert "catalog" in capsys.readouterr().err
        assert (await shop.orders.get("/orders")).json()["total"] == 0
