from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from catalog.__main__ import MIGRATIONS_DIR
from catalog.app import create_app
from catalog.settings import CatalogSettings
from shopfloor_common.db import upgrade_to_head

ADMIN_KEY = "test-admin-key-0123456789"
ADMIN = {"X-API-Key": ADMIN_KEY}

CatalogFactory = Callable[..., Any]


def catalog_settings(database_url: str, tmp_path: Path, **overrides: Any) -> CatalogSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "admin_api_key": ADMIN_KEY,
        "image_dir": tmp_path / "images",
        "access_log": False,
        "environment": "test",
        **overrides,
    }
    return CatalogSettings(**values)


@pytest.fixture
async def make_catalog(tmp_path: Path) -> AsyncIterator[CatalogFactory]:
    """Builds a migrated catalog app and an httpx client talking to it in-process."""
    stack: list[Any] = []

    async def factory(database_url: str, **overrides: Any) -> httpx.AsyncClient:
        await asyncio.to_thread(upgrade_to_head, MIGRATIONS_DIR, database_url)
        app = create_app(catalog_settings(database_url, tmp_path, **overrides))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://catalog")
        client.app = app  # type: ignore[attr-defined]
        stack.append((lifespan, client))
        return client

    yield factory
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def catalog(make_catalog: CatalogFactory, database_url: str) -> httpx.AsyncClient:
    """A catalog on SQLite and, in a second run, on PostgreSQL."""
    client: httpx.AsyncClient = await make_catalog(database_url)
    return client


def product(sku: str = "MUG-001", **fields: Any) -> dict[str, Any]:
    return {"sku": sku, "name": f"Product {sku}", "category": "kitchen", "price_cents": 1000, "stock": 5, **fields}


async def create(client: httpx.AsyncClient, sku: str = "MUG-001", **fields: Any) -> dict[str, Any]:
    response = await client.post("/products", json=product(sku, **fields), headers=ADMIN)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def stock_of(client: httpx.AsyncClient, sku: str) -> int:
    stock: int = (await client.get(f"/products/{sku}")).json()["stock"]
    return stock


def png_bytes(width: int = 8, height: int = 8, color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def assert_problem(response: httpx.Response, status: int, *, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert "Traceback" not in response.text
    if field is not None:
        named = {e["field"] for e in body.get("errors", [])} | {body.get("field")}
        assert field in named or field in body["detail"], body
    return body
