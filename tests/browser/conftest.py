"""The whole shop as `make run` starts it (catalog, orders, api-gateway, frontend as real processes behind
the edge router), and Debian's Chromium driven by Playwright.

Chromium is the system's (/usr/bin/chromium, installed by .ci/run): Playwright's own browser downloads
are not reachable from CI machines. Every page records where it sent requests, what the browser logged
as errors and which scripts failed, so a test can tell a third-party request or a CSP violation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, ViewportSize, async_playwright

from shopfloor.local.edge import EdgeRouter, Route
from shopfloor.measure.screenshots import CHROMIUM_ARGS, chromium_executable
from shopfloor_common.localserver import free_port
from tests.conftest import RunningService, StartService

PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def chromium_path(missing_dependency: Callable[[str, str], None]) -> str:
    path = chromium_executable()
    if path is None:
        missing_dependency("Chromium", "Install Debian's chromium (apt-get install chromium); .ci/run does it in CI.")
    assert path is not None
    return path


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[asyncio.Task[Browser]]:
    """Chromium, launching in the background: the stack fixtures depend on this one, so the browser
    starts while the services do, and `session` waits for it."""
    playwright = await async_playwright().start()
    launching = asyncio.create_task(playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS))
    try:
        yield launching
    finally:
        try:
            await (await launching).close()
        finally:
            await playwright.stop()


@dataclass
class Shop:
    """Where the browser goes (`url`) and where its pages should call the API (`api_url`)."""

    url: str
    api_url: str
    services: dict[str, RunningService]
    start_service: StartService

    @property
    def allowed_origins(self) -> set[str]:
        return {origin(self.url), origin(self.api_url)}

    async def stop(self, name: str) -> None:
        await self.services[name].process.stop(timeout_seconds=5)

    async def restart(self, name: str, env: dict[str, str] | None = None) -> None:
        port = self.services[name].spec.port
        self.services[name] = await self.start_service(name, env=env, port=port)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


GATEWAY_ENV = {"RATE_LIMIT": "off"}


async def start_all(
    start_service: StartService, frontend_env: dict[str, str], gateway_env: dict[str, str], **ports: int
):
    """Start the four services at once. Safe in any readiness order: nobody calls another service to get
    ready, and each learns the others' URLs when its start begins, which asyncio.gather runs in the order
    given (catalog's port is known before orders' environment is made, and so on)."""
    catalog, orders, frontend, gateway = await asyncio.gather(
        start_service("catalog"),
        start_service("orders"),
        start_service("frontend", env=frontend_env, port=ports.get("frontend")),
        start_service("api-gateway", env=gateway_env, port=ports.get("gateway")),
    )
    return {"catalog": catalog, "orders": orders, "frontend": frontend, "api-gateway": gateway}


@pytest.fixture
async def shop(browser: asyncio.Task[Browser], start_service: StartService) -> AsyncIterator[Shop]:
    """Same origin, as `make run` serves it: the edge routes /api to api-gateway and / to frontend."""
    services = await start_all(start_service, {}, GATEWAY_ENV)
    edge = EdgeRouter(
        [
            Route("/api", services["api-gateway"].url, "api-gateway"),
            Route("/", services["frontend"].url, "frontend"),
        ]
    )
    await edge.start("127.0.0.1", 0)
    url = f"http://127.0.0.1:{edge.port}"
    try:
        yield Shop(url=url, api_url=f"{url}/api", services=services, start_service=start_service)
    finally:
        await edge.stop()


@pytest.fixture
async def cross_origin_shop(browser: asyncio.Task[Browser], start_service: StartService) -> Shop:
    """The API on another origin: the browser opens the frontend on its own port and calls the gateway
    on the gateway's port, which lists the frontend's origin in CORS_ALLOW_ORIGINS."""
    frontend_port, gateway_port = free_port(), free_port()
    frontend_origin = f"http://127.0.0.1:{frontend_port}"
    api_url = f"http://127.0.0.1:{gateway_port}/api"
    services = await start_all(
        start_service,
        {"PUBLIC_API_URL": api_url},
        {**GATEWAY_ENV, "CORS_ALLOW_ORIGINS": frontend_origin},
        frontend=frontend_port,
        gateway=gateway_port,
    )
    return Shop(url=services["frontend"].url, api_url=api_url, services=services, start_service=start_service)


@dataclass
class Recorder:
    requests: list[Request] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def urls(self) -> list[str]:
        return [request.url for request in self.requests]

    def foreign(self, allowed_origins: set[str]) -> list[str]:
        return [url for url in self.urls() if origin(url) not in allowed_origins]

    def policy_violations(self) -> list[str]:
        return [text for text in self.console_errors if "Content Security Policy" in text]


@dataclass
class BrowsingSession:
    page: Page
    recorder: Recorder


@pytest.fixture
async def session(browser: asyncio.Task[Browser]) -> AsyncIterator[BrowsingSession]:
    context = await (await browser).new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = await context.new_page()
    recorder = Recorder()

    def on_request(request: Request) -> None:
        recorder.requests.append(request)

    page.on("request", on_request)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            recorder.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: recorder.page_errors.append(str(error)))
    try:
        yield BrowsingSession(page, recorder)
    finally:
        await context.close()
