"""`shopfloor screenshots`: pictures of the main pages for the README, taken in Debian's Chromium.

The whole shop is started as `shopfloor run` starts it, but on free ports and in a scratch state
folder (migrated, seeded, a few demo product images uploaded), so a developer's own `var/local` and a
running `make run` are left alone. Then one purchase is clicked through and each page is captured
into docs/screenshots/: catalog, product, cart, order, admin.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from shopfloor.local.stack import LocalStack, StackError, StackOptions

if TYPE_CHECKING:
    from playwright.async_api import Page

# Chromium as CI and this command run it: as root in a container (no sandbox there), without a GPU,
# and without the calls home (updates, sync, safe browsing) that would leave the machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Demo pictures (flat colours, drawn here: no image files to ship or licence).
DEMO_IMAGES = {
    "MUG-001": ((29, 78, 216), (219, 234, 254)),
    "MUG-002": ((120, 53, 15), (254, 243, 199)),
    "KETTLE-01": ((55, 65, 81), (229, 231, 235)),
    "TEE-BLK-M": ((17, 24, 39), (209, 213, 219)),
    "BOOK-SRE": ((22, 101, 52), (220, 252, 231)),
    "LAMP-DESK": ((180, 83, 9), (255, 237, 213)),
}
FOREIGN_VARIABLES = {"ADMIN_API_KEY", "REDIS_URL", "DATABASE_URL", "IMAGE_DIR", "S3_BUCKET", "LOG_LEVEL"}


class ScreenshotError(Exception):
    pass


def chromium_executable() -> str | None:
    """$CHROMIUM_PATH, else Debian's chromium."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured
    return shutil.which("chromium") or (DEFAULT_CHROMIUM if Path(DEFAULT_CHROMIUM).exists() else None)


def demo_image(sku: str) -> bytes:
    from PIL import Image, ImageDraw

    ink, paper = DEMO_IMAGES[sku]
    image = Image.new("RGB", (800, 600), paper)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((200, 150, 600, 450), radius=48, fill=ink)
    draw.ellipse((330, 230, 470, 370), fill=paper)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class ScratchShop:
    """The whole shop as `shopfloor run` starts it, but on free ports in a scratch folder, with quiet
    logs and without demo orders (the admin page then shows the one order placed here)."""

    def __init__(self, repo: Path, state_dir: Path) -> None:
        environ = {k: v for k, v in os.environ.items() if k not in FOREIGN_VARIABLES and not k.endswith("_URL")}
        self.stack = LocalStack(
            StackOptions(
                repo=repo,
                state_dir=state_dir,
                free_ports=True,
                edge_port=0,
                environ=environ,
                extra_env={"LOG_LEVEL": "WARNING", "ACCESS_LOG": "false", "RATE_LIMIT": "off"},
                admin_key=secrets.token_urlsafe(24),
                skip_seed=("orders",),
                ready_timeout_seconds=60,
            )
        )

    @property
    def url(self) -> str:
        return self.stack.edge_url

    @property
    def admin_key(self) -> str:
        return self.stack.admin_key.value

    async def start(self) -> None:
        await self.stack.start()

    async def stop(self) -> None:
        await self.stack.stop()

    async def upload_demo_images(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for sku in DEMO_IMAGES:
                form = aiohttp.FormData()
                form.add_field("image", demo_image(sku), filename=f"{sku}.png", content_type="image/png")
                async with session.put(
                    f"{self.url}/api/products/{sku}/image", data=form, headers={"X-API-Key": self.admin_key}
                ) as response:
                    if response.status != 200:
                        raise ScreenshotError(f"uploading {sku}'s image: {response.status} {await response.text()}")


async def capture(shop: ScratchShop, out_dir: Path, chromium: str) -> list[Path]:
    from playwright.async_api import async_playwright, expect

    written: list[Path] = []

    async def shot(page: Page, name: str) -> None:
        target = out_dir / f"{name}.png"
        await page.screenshot(path=str(target), full_page=True)
        written.append(target)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1200, "height": 800}, device_scale_factor=1)
            context.set_default_timeout(15_000)
            page = await context.new_page()

            await page.goto(f"{shop.url}/")
            await expect(page.locator("#product-grid > li")).to_have_count(8)
            await page.wait_for_load_state("networkidle")
            await shot(page, "catalog")

            await page.goto(f"{shop.url}/products/MUG-001")
            await expect(page.locator("#product-image")).to_be_visible()
            await page.wait_for_load_state("networkidle")
            await page.get_by_label("Quantity").fill("2")
            await page.get_by_role("button", name="Add to cart").click()
            await shot(page, "product")

            await page.goto(f"{shop.url}/products/BOOK-SRE")
            await expect(page.locator("#product-name")).not_to_be_empty()
            await page.get_by_role("button", name="Add to cart").click()
            await page.goto(f"{shop.url}/cart")
            await page.get_by_label("Name", exact=True).fill("Ada Lovelace")
            await page.get_by_label("Email").fill("ada@example.com")
            await page.get_by_label("Address").fill("12 Analytical Row, London")
            await shot(page, "cart")

            await page.get_by_role("button", name="Place order").click()
            await page.wait_for_url("**/orders/*")
            await expect(page.locator("#order-status")).to_have_text("CONFIRMED")
            await shot(page, "order")

            await page.goto(f"{shop.url}/admin")
            await page.get_by_label("Admin API key").fill(shop.admin_key)
            await page.get_by_role("button", name="Use this key").click()
            await expect(page.locator("#admin-orders tr")).to_have_count(1)
            await expect(page.locator("#admin-products tr")).to_have_count(12)
            await shot(page, "admin")
        finally:
            await browser.close()
    return written


async def take_screenshots(repo: Path, out_dir: Path, chromium: str) -> list[Path]:
    with tempfile.TemporaryDirectory(prefix="shopfloor-screenshots-") as scratch:
        shop = ScratchShop(repo, Path(scratch))
        try:
            await shop.start()
            await shop.upload_demo_images()
            return await capture(shop, out_dir, chromium)
        finally:
            await shop.stop()


def run_screenshots(repo: Path, out_dir: Path, chromium: str | None) -> int:
    from playwright.async_api import Error as BrowserError

    chromium = chromium or chromium_executable()
    if chromium is None:
        print(
            "shopfloor screenshots: Chromium not found: apt-get install chromium, or set CHROMIUM_PATH", file=sys.stderr
        )
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        written = asyncio.run(take_screenshots(repo, out_dir, chromium))
    except (ScreenshotError, StackError, BrowserError) as exc:
        print(f"shopfloor screenshots: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0
