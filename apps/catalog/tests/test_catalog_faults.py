"""catalog's hooks into the fault switch: io-errors fails the image store, hold-connections drains its pool."""

from __future__ import annotations

import httpx

from .conftest import ADMIN, CatalogFactory, assert_problem, create, png_bytes


async def test_io_errors_fail_image_reads_and_writes_and_nothing_else(
    make_catalog: CatalogFactory, sqlite_url: str
) -> None:
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url)
    await create(catalog, "MUG-001")
    upload = await catalog.put(
        "/products/MUG-001/image", files={"image": ("a.png", png_bytes(), "image/png")}, headers=ADMIN
    )
    image_path = upload.json()["image_url"].removeprefix("/api")

    assert (await catalog.put("/admin/faults/io-errors", json={}, headers=ADMIN)).status_code == 200
    assert_problem(await catalog.get(image_path), 500)
    failed_upload = await catalog.put(
        "/products/MUG-001/image", files={"image": ("b.png", png_bytes(color="blue"), "image/png")}, headers=ADMIN
    )
    assert_problem(failed_upload, 500)
    assert (await catalog.get("/products/MUG-001")).status_code == 200
    assert (await catalog.get("/readyz")).status_code == 200

    await catalog.delete("/admin/faults/io-errors", headers=ADMIN)
    served = await catalog.get(image_path)
    assert served.status_code == 200
    assert served.content == png_bytes()


async def test_hold_connections_takes_catalogs_whole_pool(make_catalog: CatalogFactory, postgres_url: str) -> None:
    catalog: httpx.AsyncClient = await make_catalog(postgres_url, db_pool_size=3, db_max_overflow=2)

    held = await catalog.put("/admin/faults/hold-connections", json={}, headers=ADMIN)

    assert held.status_code == 200, held.text
    assert held.json()["note"] == "holding 5 of 5 connections"
    await catalog.delete("/admin/faults", headers=ADMIN)
