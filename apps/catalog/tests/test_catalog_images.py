from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from shopfloor_common.localserver import free_port

from .conftest import ADMIN, CatalogFactory, assert_problem, create, png_bytes


async def upload(client: httpx.AsyncClient, sku: str, data: bytes, filename: str = "photo.png") -> httpx.Response:
    return await client.put(f"/products/{sku}/image", files={"image": (filename, data, "image/png")}, headers=ADMIN)


def noisy_png() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 80).save(buffer, format="PNG")  # noise compresses badly: a long file
    return buffer.getvalue()


def stored_files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "images").iterdir())


async def test_upload_then_serve_and_replace(make_catalog: CatalogFactory, sqlite_url: str, tmp_path: Path) -> None:
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url)
    await create(catalog, "MUG-001")
    first = png_bytes(color="red")
    response = await upload(catalog, "MUG-001", first, filename="anything.txt")  # the name is not trusted
    assert response.status_code == 200, response.text
    image_url = response.json()["image_url"]
    assert image_url.startswith("/api/images/MUG-001-")
    assert image_url.endswith(".png")
    assert (await catalog.get("/products/MUG-001")).json()["image_url"] == image_url  # cache invalidated

    served = await catalog.get(image_url.removeprefix("/api"))
    assert served.status_code == 200
    assert served.content == first
    assert served.headers["content-type"] == "image/png"
    assert "immutable" in served.headers["cache-control"]

    replaced = await upload(catalog, "MUG-001", png_bytes(color="blue"))
    assert replaced.json()["image_url"] != image_url
    assert len(stored_files(tmp_path)) == 1  # the old image was removed
    assert_problem(await catalog.get(image_url.removeprefix("/api")), 404)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"just some text, not an image", 415),
        (b"%PDF-1.4 pretending", 415),
        (noisy_png()[:400], 422),  # a real PNG with its data cut off
        (b"", 422),
    ],
    ids=["text-named-png", "pdf", "truncated-png", "empty"],
)
async def test_non_images_are_refused_and_nothing_is_stored(
    make_catalog: CatalogFactory, sqlite_url: str, tmp_path: Path, data: bytes, status: int
) -> None:
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url)
    await create(catalog, "MUG-001")
    body = assert_problem(await upload(catalog, "MUG-001", data, filename="photo.png"), status)
    assert body.get("field") == "image" or "image" in body["detail"]
    assert stored_files(tmp_path) == []
    assert (await catalog.get("/products/MUG-001")).json()["image_url"] is None


def image_bytes(image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.mark.parametrize("image_format", ["BMP", "TIFF"])
async def test_a_real_image_in_another_format_is_415_naming_it_and_nothing_is_stored(
    make_catalog: CatalogFactory, sqlite_url: str, tmp_path: Path, image_format: str
) -> None:
    """Pillow decodes BMP and TIFF happily: being an image is not enough, it must be one of the four."""
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url)
    await create(catalog, "MUG-001")
    body = assert_problem(await upload(catalog, "MUG-001", image_bytes(image_format)), 415, field="image")
    assert body["type"].endswith("unsupported-image")
    assert image_format in body["detail"]
    assert stored_files(tmp_path) == []
    assert (await catalog.get("/products/MUG-001")).json()["image_url"] is None


async def test_a_10_mb_image_is_413(make_catalog: CatalogFactory, sqlite_url: str, tmp_path: Path) -> None:
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url)
    await create(catalog, "MUG-001")
    huge = png_bytes() + b"\0" * (10 * 1024 * 1024)
    body = assert_problem(await upload(catalog, "MUG-001", huge), 413)
    assert body["field"] == "image"
    assert stored_files(tmp_path) == []


async def test_decompression_bombs_are_refused(make_catalog: CatalogFactory, sqlite_url: str) -> None:
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url, image_max_pixels=10_000)
    await create(catalog, "MUG-001")
    assert_problem(await upload(catalog, "MUG-001", png_bytes(200, 200)), 422)


async def test_upload_needs_multipart_and_an_existing_product(make_catalog: CatalogFactory, sqlite_url: str) -> None:
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url)
    await create(catalog, "MUG-001")
    raw = await catalog.put(
        "/products/MUG-001/image", content=png_bytes(), headers={**ADMIN, "Content-Type": "image/png"}
    )
    assert_problem(raw, 415)
    wrong_field = await catalog.put("/products/MUG-001/image", files={"file": ("a.png", png_bytes())}, headers=ADMIN)
    assert_problem(wrong_field, 422, field="image")
    assert_problem(await upload(catalog, "NOPE", png_bytes()), 404)


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """AWS cannot be reached here: moto's S3 server stands in, over real HTTP."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="shop-images")
    yield endpoint
    server.stop()


async def test_images_go_to_s3_when_a_bucket_is_set(
    make_catalog: CatalogFactory, sqlite_url: str, s3_endpoint: str
) -> None:
    catalog: httpx.AsyncClient = await make_catalog(sqlite_url, s3_bucket="shop-images", s3_endpoint_url=s3_endpoint)
    await create(catalog, "MUG-001")
    data = png_bytes()
    image_url = (await upload(catalog, "MUG-001", data)).json()["image_url"]
    name = image_url.rsplit("/", 1)[1]

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    stored = s3.get_object(Bucket="shop-images", Key=f"images/{name}")
    assert stored["Body"].read() == data
    assert stored["ContentType"] == "image/png"
    assert (await catalog.get(f"/images/{name}")).content == data
    assert (await catalog.get("/readyz")).status_code == 200

    await catalog.delete("/products/MUG-001", headers=ADMIN)
    assert s3.list_objects_v2(Bucket="shop-images").get("KeyCount") == 0
