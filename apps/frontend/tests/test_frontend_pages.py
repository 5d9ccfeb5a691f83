"""The pages, their Content-Security-Policy and PUBLIC_API_URL, in process (httpx over ASGI)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from frontend.app import STATIC_DIR, create_app
from frontend.settings import FrontendSettings

PAGES = ["/", "/products/MUG-001", "/cart", "/orders/0123456789abcdef", "/admin"]

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Client:
    @asynccontextmanager
    async def open_client(**env: str) -> AsyncIterator[httpx.AsyncClient]:
        monkeypatch.delenv("PUBLIC_API_URL", raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        app = create_app(FrontendSettings())
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.test") as http,
        ):
            yield http

    return open_client


class PageParts(HTMLParser):
    """What a page would ask the browser to load or run, and its form controls and labels."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_scripts: list[str] = []
        self._in_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self._in_script_without_src = tag == "script" and "src" not in attributes

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script_without_src = False

    def handle_data(self, data: str) -> None:
        if self._in_script_without_src and data.strip():
            self.inline_scripts.append(data)

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attributes for name, attributes in self.tags if name == tag]


def parse(html: str) -> PageParts:
    parts = PageParts()
    parts.feed(html)
    return parts


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_is_html_with_a_strict_policy_and_no_inline_code(client: Client, path: str) -> None:
    async with client() as http:
        response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"

    page = parse(response.text)
    assert page.inline_scripts == []
    for tag, attributes in page.tags:
        assert "style" not in attributes, f"<{tag}> has an inline style (the CSP would block it)"
        assert not [name for name in attributes if name.startswith("on")], f"<{tag}> has an inline handler"
    loaded = [a["src"] for a in page.find("script")] + [a["href"] for a in page.find("link")]
    assert loaded
    assert all(url and url.startswith("/static/") for url in loaded), loaded


@pytest.mark.parametrize("path", PAGES)
async def test_every_form_control_has_a_label(client: Client, path: str) -> None:
    async with client() as http:
        page = parse((await http.get(path)).text)
    labelled = {attributes.get("for") for attributes in page.find("label")}
    controls = [
        attributes
        for tag, attributes in page.tags
        if tag in {"input", "select", "textarea", "progress"} and attributes.get("type") != "hidden"
    ]
    unlabelled = [attributes for attributes in controls if attributes.get("id") not in labelled]
    assert unlabelled == []


async def test_the_api_url_is_read_at_start_and_given_to_the_page(client: Client) -> None:
    async with client() as http:
        same_origin = parse((await http.get("/")).text)
    assert [m["content"] for m in same_origin.find("meta") if m.get("name") == "shopfloor-api"] == ["/api"]

    async with client(PUBLIC_API_URL="https://api.example.com/api/") as http:
        response = await http.get("/cart")
    page = parse(response.text)
    assert [m["content"] for m in page.find("meta") if m.get("name") == "shopfloor-api"] == [
        "https://api.example.com/api"
    ]
    policy = directives(response.headers["content-security-policy"])
    assert policy["connect-src"] == ["'self'", "https://api.example.com"]
    assert "https://api.example.com" in policy["img-src"]  # product images are served under the API


@pytest.mark.parametrize(
    "value", ["api", "ftp://api.example.com", "https://", "https://api.example.com/a b", "/api?x=1", "//evil.test"]
)
def test_a_bad_public_api_url_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PUBLIC_API_URL", value)
    with pytest.raises(ValidationError) as raised:
        FrontendSettings()
    assert raised.value.errors()[0]["loc"] == ("public_api_url",)


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("/api", None),
        ("/", None),
        ("http://127.0.0.1:8080/api", "http://127.0.0.1:8080"),
        ("https://x.test", "https://x.test"),
    ],
)
def test_the_api_origin_is_known_only_for_another_origin(
    monkeypatch: pytest.MonkeyPatch, value: str, origin: str | None
) -> None:
    monkeypatch.setenv("PUBLIC_API_URL", value)
    assert FrontendSettings().api_origin == origin


@pytest.mark.parametrize("path", ["/no-such-page", "/products/not%20a%20sku", "/orders/a.b", "/docs"])
async def test_an_unknown_page_is_a_404_page_not_a_problem_document(client: Client, path: str) -> None:
    async with client() as http:
        response = await http.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text
    assert "content-security-policy" in response.headers


async def test_health_and_metrics_are_served_like_every_service(client: Client) -> None:
    async with client() as http:
        assert (await http.get("/livez")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        await http.get("/")
        metrics = await http.get("/metrics")
    assert metrics.status_code == 200
    assert 'route="/"' in metrics.text


async def test_assets_are_versioned_by_content_and_cached_for_good(client: Client) -> None:
    async with client() as http:
        page = parse((await http.get("/")).text)
        script = next(a["src"] for a in page.find("script"))
        assert script is not None
        assert re.fullmatch(r"/static/app\.js\?v=[0-9a-f]{12}", script)
        response = await http.get(script)
        unversioned = await http.get("/static/app.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "immutable" in response.headers["cache-control"]
    assert "immutable" not in unversioned.headers.get("cache-control", "")


def test_no_asset_names_a_third_party_host() -> None:
    found: dict[str, Any] = {}
    for path in STATIC_DIR.iterdir():
        urls = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", path.read_text())
        urls = [url for url in urls if url != "http://www.w3.org/2000/svg"]  # an SVG namespace, not a request
        if urls:
            found[path.name] = urls
    assert found == {}
