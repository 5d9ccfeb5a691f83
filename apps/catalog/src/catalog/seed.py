"""Demo products for a new local shop: added only when the catalog is empty, each with a picture
drawn at seed time with Pillow (no downloaded assets): a colour per category, a shade per sku, the
product's initials. The shop then looks like one, and a browsing benchmark loads images as a
shopper's browser would."""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageDraw, ImageFont

from catalog.app import create_image_storage
from catalog.images import MEDIA_TYPES, image_name
from catalog.repository import ProductRepository
from catalog.settings import CatalogSettings
from shopfloor_common.contracts.catalog import ProductCreate
from shopfloor_common.db import create_engine, session_factory

DEMO_PRODUCTS = [
    ProductCreate(
        sku="MUG-001",
        name="Enamel camp mug",
        description="Chip-resistant enamel, 350 ml.",
        category="kitchen",
        price_cents=1450,
        stock=40,
    ),
    ProductCreate(
        sku="MUG-002",
        name="Stoneware espresso cup",
        description="Hand-glazed, 90 ml, set of two.",
        category="kitchen",
        price_cents=1900,
        stock=25,
    ),
    ProductCreate(
        sku="KETTLE-01",
        name="Gooseneck kettle",
        description="Stovetop, 1 l, steel.",
        category="kitchen",
        price_cents=4900,
        stock=12,
    ),
    ProductCreate(
        sku="TEE-BLK-M",
        name="Heavyweight tee, black, M",
        description="Organic cotton, 220 gsm.",
        category="apparel",
        price_cents=2800,
        stock=60,
    ),
    ProductCreate(
        sku="TEE-WHT-L",
        name="Heavyweight tee, white, L",
        description="Organic cotton, 220 gsm.",
        category="apparel",
        price_cents=2800,
        stock=55,
    ),
    ProductCreate(
        sku="HOODIE-GRY",
        name="Pager-duty hoodie",
        description="Warm enough for a 3 a.m. incident.",
        category="apparel",
        price_cents=6500,
        stock=20,
    ),
    ProductCreate(
        sku="BOOK-SRE",
        name="Site reliability field notes",
        description="Runbooks, postmortems and SLOs.",
        category="books",
        price_cents=3900,
        stock=30,
    ),
    ProductCreate(
        sku="BOOK-K8S",
        name="Kubernetes by example",
        description="From Pods to GitOps.",
        category="books",
        price_cents=4200,
        stock=18,
    ),
    ProductCreate(
        sku="STICKER-PACK",
        name="Sticker pack",
        description="Ten vinyl stickers, laptop safe.",
        category="accessories",
        price_cents=600,
        stock=200,
    ),
    ProductCreate(
        sku="LAMP-DESK", name="Desk lamp", description="Warm LED, dimmable.", category="home", price_cents=5400, stock=8
    ),
    ProductCreate(
        sku="PLANT-POT",
        name="Terracotta pot",
        description="15 cm, with saucer.",
        category="home",
        price_cents=1200,
        stock=3,
    ),
    ProductCreate(
        sku="LAST-ONE",
        name="Limited print",
        description="Signed, only one left.",
        category="home",
        price_cents=9900,
        stock=1,
    ),
]


CATEGORY_COLOURS = {
    "kitchen": (214, 120, 74),
    "apparel": (72, 98, 150),
    "books": (92, 140, 96),
    "accessories": (176, 92, 150),
    "home": (196, 160, 72),
}
PICTURE_SIZE = (480, 360)


def demo_picture(product: ProductCreate) -> bytes:
    """A PNG for the product: deterministic (the same product always gets the same bytes, hence
    the same content-addressed name), small, and different from its neighbours."""
    base = CATEGORY_COLOURS.get(product.category, (120, 120, 120))
    shade = hashlib.sha256(product.sku.encode()).digest()
    top = tuple(min(255, max(0, c + (shade[i] % 60) - 30)) for i, c in enumerate(base))
    bottom = tuple(max(0, c - 70) for c in top)
    width, height = PICTURE_SIZE
    image = Image.new("RGB", PICTURE_SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(height):  # a vertical gradient, one line at a time
        mix = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(round(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True)))
    draw.ellipse([width * 0.3, height * 0.18, width * 0.7, height * 0.18 + width * 0.4], fill=(255, 255, 255, 60))
    initials = "".join(word[0] for word in product.name.split()[:2]).upper()
    font = ImageFont.load_default(size=96)
    box = draw.textbbox((0, 0), initials, font=font)
    position = ((width - (box[2] - box[0])) / 2 - box[0], height * 0.18 + width * 0.2 - (box[3] - box[1]) / 2 - box[1])
    draw.text(position, initials, font=font, fill=top)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def seed_demo_products(settings: CatalogSettings) -> int:
    engine = create_engine(settings)
    images = create_image_storage(settings)
    try:
        products = ProductRepository(session_factory(engine))
        if await products.count():
            return 0
        for product in DEMO_PRODUCTS:
            await products.create(product)
            picture = demo_picture(product)
            name = image_name(product.sku, picture, "png")
            await images.put(name, picture, MEDIA_TYPES["png"])
            await products.set_image(product.sku, name)
        return len(DEMO_PRODUCTS)
    finally:
        await engine.dispose()
