"""The demo seed: every product comes with a picture drawn at seed time, served like an upload."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from PIL import Image

from catalog.seed import DEMO_PRODUCTS, demo_picture, seed_demo_products

from .conftest import CatalogFactory, catalog_settings


async def test_every_demo_product_has_a_picture(make_catalog: CatalogFactory, sqlite_url: str, tmp_path: Path) -> None:
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url)  # migrates; the seed needs the tables

    assert await seed_demo_products(catalog_settings(sqlite_url, tmp_path)) == len(DEMO_PRODUCTS)

    page = (await catalog.get("/products", params={"limit": 100})).json()
    assert page["total"] == len(DEMO_PRODUCTS)
    without = [item["sku"] for item in page["items"] if not item["image_url"]]
    assert without == []
    for item in page["items"]:
        served = await catalog.get("/images/" + item["image_url"].rsplit("/", 1)[1])
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(served.content)) as picture:
            assert picture.size == (480, 360)
    assert await seed_demo_products(catalog_settings(sqlite_url, tmp_path)) == 0  # only into an empty catalog


def test_pictures_differ_per_product_and_are_deterministic() -> None:
    pictures = [demo_picture(product) for product in DEMO_PRODUCTS]
    assert len(set(pictures)) == len(DEMO_PRODUCTS)
    assert demo_picture(DEMO_PRODUCTS[0]) == pictures[0]
