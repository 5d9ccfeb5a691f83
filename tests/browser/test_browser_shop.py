"""The shop in a real browser: Debian's Chromium, driven by Playwright, against the real services.

Each test starts its own stack (the services on copies of the seeded databases), so orders and stock
from one test never leak into another.
"""

from __future__ import annotations

import io
import re
import secrets

import httpx
import pytest
from PIL import Image
from playwright.async_api import Page, Route, expect

from tests.browser.conftest import GATEWAY_ENV, PHONE, BrowsingSession, Shop, origin
from tests.conftest import ADMIN_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ORDER_URL = re.compile(r"/orders/[A-Za-z0-9_-]+$")


def assert_clean(session: BrowsingSession, shop: Shop) -> None:
    """Nothing went to a third-party host, the CSP blocked nothing, no script threw."""
    assert session.recorder.foreign(shop.allowed_origins) == []
    assert session.recorder.policy_violations() == []
    assert session.recorder.page_errors == []


async def add_to_cart(page: Page, shop: Shop, sku: str, quantity: int = 1) -> None:
    await page.goto(f"{shop.url}/products/{sku}")
    await expect(page.locator("#product-name")).not_to_be_empty()
    await page.get_by_label("Quantity").fill(str(quantity))
    await page.get_by_role("button", name="Add to cart").click()
    await expect(page.locator("#cart-message")).to_contain_text("Added")


async def fill_checkout(page: Page, shop: Shop) -> None:
    await page.goto(f"{shop.url}/cart")
    await page.get_by_label("Name", exact=True).fill("Ada Lovelace")
    await page.get_by_label("Email").fill("ada@example.com")
    await page.get_by_label("Address").fill("12 Analytical Row")


async def place_order(page: Page) -> None:
    await page.get_by_role("button", name="Place order").click()
    await page.wait_for_url(ORDER_URL)


async def order_count(shop: Shop) -> int:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{shop.api_url}/orders", params={"limit": 100})
    response.raise_for_status()
    total: int = response.json()["total"]
    return total


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (29, 78, 216)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_browse_add_to_cart_and_check_out_to_a_confirmed_order(shop: Shop, session: BrowsingSession) -> None:
    page = session.page
    response = await page.goto(f"{shop.url}/")
    assert response is not None
    assert "default-src 'self'" in response.headers["content-security-policy"]

    cards = page.locator("#product-grid > li")
    await expect(cards).to_have_count(8)
    await expect(page.locator("#page-info")).to_have_text("Page 1 of 2")
    await page.get_by_role("button", name="Next").click()
    await expect(cards).to_have_count(4)
    assert "page=2" in page.url

    await page.get_by_label("Category").select_option("books")
    await expect(cards).to_have_count(2)
    await page.get_by_label("Search").fill("mug")
    await page.get_by_label("Search").press("Enter")
    await expect(page.locator("#catalog-status")).to_have_text("No products match your search.")
    await page.get_by_label("Category").select_option("")
    await expect(cards).to_have_count(2)

    await page.locator('[data-sku="MUG-001"] a').click()
    await expect(page.locator("#product-name")).to_have_text("Enamel camp mug")
    await page.get_by_label("Quantity").fill("2")
    await page.get_by_role("button", name="Add to cart").click()
    await expect(page.locator("#cart-count")).to_have_text("2")

    await page.get_by_role("link", name=re.compile("^Cart")).click()
    await expect(page.locator("#cart-lines tr")).to_have_count(1)
    await expect(page.locator("#cart-total")).to_have_text("$29.00")
    await fill_checkout(page, shop)
    await place_order(page)

    await expect(page.locator("#order-status")).to_have_text("CONFIRMED")
    await expect(page.locator("#order-history li")).to_have_count(2)  # PENDING, then CONFIRMED
    await expect(page.locator("#order-total")).to_have_text("$29.00")
    await expect(page.locator("#cart-count")).to_have_text("0")
    assert_clean(session, shop)


async def test_an_out_of_stock_checkout_shows_rejected_and_why(shop: Shop, session: BrowsingSession) -> None:
    page = session.page
    await page.set_viewport_size(PHONE)
    await page.goto(f"{shop.url}/products/LAST-ONE")
    await expect(page.locator("#product-stock")).to_have_text("1 in stock")
    # By keyboard: the quantity field, then Tab to the button and Enter.
    await page.get_by_label("Quantity").fill("2")
    await page.get_by_label("Quantity").press("Tab")
    await expect(page.get_by_role("button", name="Add to cart")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#cart-count")).to_have_text("2")

    await fill_checkout(page, shop)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the cart overflows a phone"
    await place_order(page)
    await expect(page.locator("#order-status")).to_have_text("REJECTED")
    await expect(page.locator("#order-reason")).to_contain_text("insufficient stock")
    await expect(page.locator("#order-reason")).to_contain_text("LAST-ONE (requested 2, available 1)")
    await expect(page.locator("#cart-count")).to_have_text("2")  # kept, to be changed and tried again

    await page.goto(f"{shop.url}/")
    await expect(page.locator("#product-grid > li")).to_have_count(8)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the catalog overflows"
    assert_clean(session, shop)


async def test_admin_creates_a_product_uploads_its_image_and_moves_an_order(
    shop: Shop, session: BrowsingSession
) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        placed = await http.post(
            f"{shop.api_url}/orders",
            json={
                "items": [{"sku": "KETTLE-01", "quantity": 1}],
                "customer": {"name": "Bo", "email": "bo@example.com"},
            },
            headers={"Idempotency-Key": secrets.token_hex(16)},
        )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]

    page = session.page
    await page.goto(f"{shop.url}/admin")
    await expect(page.locator("#admin-panels")).to_be_hidden()
    await page.get_by_label("Admin API key").fill("not-the-admin-key-0000")
    await page.get_by_role("button", name="Use this key").click()
    await page.get_by_label("SKU").fill("BROWSER-LAMP")
    await page.get_by_label("Name", exact=True).fill("Browser-tested lamp")
    await page.get_by_label("Category").fill("home")
    await page.get_by_label("Price (in cents)").fill("2500")
    await page.get_by_label("Stock").fill("3")
    await page.get_by_role("button", name="Create product").click()
    await expect(page.locator("#admin-status")).to_have_text("The admin key was refused. Enter the right key.")
    await expect(page.locator("#admin-panels")).to_be_hidden()

    await page.get_by_label("Admin API key").fill(ADMIN_KEY)
    await page.get_by_role("button", name="Use this key").click()
    await page.get_by_role("button", name="Create product").click()
    await expect(page.locator("#product-form-status")).to_have_text("Created BROWSER-LAMP. Add a picture below.")
    await expect(page.locator('#admin-products tr[data-sku="BROWSER-LAMP"]')).to_have_count(1)

    await page.get_by_label("Image (JPEG, PNG, WebP or GIF, up to 5 MiB)").set_input_files(
        {"name": "lamp.png", "mimeType": "image/png", "buffer": png(64, 48)}
    )
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator("#image-status")).to_have_text("Uploaded the picture for BROWSER-LAMP.")
    assert await page.locator("#image-progress").evaluate("bar => bar.value") == 100

    await page.get_by_role("button", name=f"Move order {order_id} to PAID").click()
    await expect(page.locator("#orders-status-line")).to_have_text(f"Order {order_id} is now PAID.")
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(f"{shop.api_url}/orders/{order_id}")).json()["status"] == "PAID"

    await page.goto(f"{shop.url}/?q=browser-tested")
    image = page.locator('[data-sku="BROWSER-LAMP"] img')
    await expect(image).to_be_visible()
    assert "/api/images/" in (await image.get_attribute("src") or "")
    await page.wait_for_function(
        "() => { const i = document.querySelector('[data-sku=\"BROWSER-LAMP\"] img');"
        " return i !== null && i.complete && i.naturalWidth === 64; }"
    )
    assert_clean(session, shop)


async def test_a_double_click_and_a_retried_checkout_make_exactly_one_order(
    shop: Shop, session: BrowsingSession
) -> None:
    page = session.page
    await add_to_cart(page, shop, "MUG-002")
    await fill_checkout(page, shop)

    keys: list[str | None] = []

    async def lose_the_first_answer(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            await route.fetch()  # the order is made, and then the connection drops before the answer
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await page.route("**/api/orders", lose_the_first_answer)
    await page.get_by_role("button", name="Place order").dblclick()
    await expect(page.locator("#checkout-status")).to_contain_text("it will not be placed twice")
    assert len(keys) == 1, "the second click of the double click sent another order"
    assert await order_count(shop) == 1

    await place_order(page)  # the shopper tries again
    await expect(page.locator("#order-status")).to_have_text("CONFIRMED")
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert keys[0] is not None
    assert re.fullmatch(r"[0-9a-f]{32}", keys[0])
    assert await order_count(shop) == 1
    assert_clean(session, shop)


async def test_a_public_api_url_on_another_origin_is_where_the_browser_calls(
    cross_origin_shop: Shop, session: BrowsingSession
) -> None:
    shop = cross_origin_shop
    assert origin(shop.api_url) != origin(shop.url)
    page = session.page
    response = await page.goto(f"{shop.url}/")
    assert response is not None
    assert f"connect-src 'self' {origin(shop.api_url)};" in response.headers["content-security-policy"]
    await expect(page.locator("#product-grid > li")).to_have_count(8)

    await add_to_cart(page, shop, "BOOK-SRE")
    await fill_checkout(page, shop)
    await place_order(page)
    await expect(page.locator("#order-status")).to_have_text("CONFIRMED")

    api_calls = [url for url in session.recorder.urls() if "/api/" in url]
    assert any(url.startswith(f"{shop.api_url}/orders") for url in api_calls)
    assert [url for url in api_calls if not url.startswith(f"{shop.api_url}/")] == []
    assert_clean(session, shop)


async def test_with_the_api_down_the_pages_say_so_and_recover(shop: Shop, session: BrowsingSession) -> None:
    page = session.page
    await page.goto(f"{shop.url}/products/NO-SUCH-THING")
    await expect(page.locator("#product-status")).to_have_text(
        "There is no product NO-SUCH-THING. It may have been removed."
    )

    await shop.stop("api-gateway")
    await page.goto(f"{shop.url}/")
    notice = page.get_by_role("alert")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("We can't reach the shop right now. Please try again in a moment.")
    await expect(page.locator("#catalog-status")).to_have_text("The catalog can't be shown right now.")
    await page.goto(f"{shop.url}/products/MUG-001")
    await expect(notice).to_contain_text("We can't reach the shop right now.")

    await shop.restart("api-gateway", env=GATEWAY_ENV)
    await page.get_by_role("button", name="Try again").click()
    await expect(page.locator("#product-name")).to_have_text("Enamel camp mug")
    await expect(notice).to_be_hidden()
    assert_clean(session, shop)
