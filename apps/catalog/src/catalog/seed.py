"""Demo products for a new local shop: added only when the catalog is empty."""

from __future__ import annotations

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


async def seed_demo_products(settings: CatalogSettings) -> int:
    engine = create_engine(settings)
    try:
        products = ProductRepository(session_factory(engine))
        if await products.count():
            return 0
        for product in DEMO_PRODUCTS:
            await products.create(product)
        return len(DEMO_PRODUCTS)
    finally:
        await engine.dispose()
