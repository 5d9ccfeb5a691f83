"""The frontend: HTML pages and their static assets. The pages fetch everything from the public API in the
browser (at PUBLIC_API_URL), so this service calls nobody and is ready as soon as it listens."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontend.settings import FrontendSettings
from shopfloor_common.app import create_service_app
from shopfloor_common.contracts.catalog import SKU_PATTERN
from shopfloor_common.contracts.orders import TRANSITIONS

PACKAGE = Path(__file__).parent
STATIC_DIR = PACKAGE / "static"
TEMPLATES_DIR = PACKAGE / "templates"
ORDER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
PAGE_SIZE = 8


def content_security_policy(settings: FrontendSettings) -> str:
    """Only this site's own scripts and styles, no inline code; the API's origin may be called and
    may serve images (product images live under the API)."""
    api = f" {settings.api_origin}" if settings.api_origin else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self'{api} data:",
            f"connect-src 'self'{api}",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeadersMiddleware:
    """The CSP and its companions on every response; long caching for versioned assets."""

    def __init__(self, app: ASGIApp, *, policy: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", policy.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Asset URLs carry their content hash (?v=), so a changed file gets a new URL.
        immutable = scope["path"].startswith("/static/") and b"v=" in scope.get("query_string", b"")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self.headers)
                if immutable and message["status"] == 200:
                    headers.append((b"cache-control", b"public, max-age=31536000, immutable"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def asset_versions() -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12] for path in STATIC_DIR.iterdir() if path.is_file()
    }


def create_app(settings: FrontendSettings) -> FastAPI:
    app = create_service_app(
        settings,
        title="Shopfloor frontend",
        description="The web UI. Its pages call the public API from the browser.",
        docs_url=None,
    )
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    versions = asset_versions()

    def asset(name: str) -> str:
        return f"/static/{name}?v={versions[name]}"

    templates.env.globals["asset"] = asset

    def page(request: Request, template: str, title: str, status_code: int = 200, **data: Any) -> HTMLResponse:
        context = {
            "title": title,
            "page": template.removesuffix(".html"),
            "api_url": settings.public_api_url,
            "page_data": data,
        }
        return templates.TemplateResponse(request, template, context, status_code=status_code)

    def not_found(request: Request) -> HTMLResponse:
        return page(request, "not_found.html", "Page not found", status_code=404)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def catalog_page(request: Request) -> HTMLResponse:
        return page(request, "catalog.html", "Catalog", page_size=PAGE_SIZE)

    @app.get("/products/{sku}", response_class=HTMLResponse, include_in_schema=False)
    async def product_page(request: Request, sku: str) -> HTMLResponse:
        if not _matches(SKU_PATTERN, sku):
            return not_found(request)
        return page(request, "product.html", "Product", sku=sku)

    @app.get("/cart", response_class=HTMLResponse, include_in_schema=False)
    async def cart_page(request: Request) -> HTMLResponse:
        return page(request, "cart.html", "Your cart")

    @app.get("/orders/{order_id}", response_class=HTMLResponse, include_in_schema=False)
    async def order_page(request: Request, order_id: str) -> HTMLResponse:
        if not _matches(ORDER_ID_PATTERN, order_id):
            return not_found(request)
        return page(request, "order.html", "Your order", order_id=order_id)

    @app.get("/admin", response_class=HTMLResponse, include_in_schema=False)
    async def admin_page(request: Request) -> HTMLResponse:
        transitions = {status: sorted(targets) for status, targets in TRANSITIONS.items()}
        return page(request, "admin.html", "Admin", transitions=json.dumps(transitions))

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    # Last: any other path is a page that does not exist, answered as a page, not as problem+json.
    @app.get("/{path:path}", response_class=HTMLResponse, include_in_schema=False)
    async def unknown_page(request: Request, path: str) -> HTMLResponse:
        return not_found(request)

    app.add_middleware(SecurityHeadersMiddleware, policy=content_security_policy(settings))
    return app


def _matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is not None
