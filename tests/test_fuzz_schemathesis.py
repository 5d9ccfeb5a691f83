"""schemathesis against the running services' own OpenAPI documents: no input finds a 5xx.

Real processes over real HTTP (the way clients reach them), with the admin key so the admin
routes are exercised past authentication. The seed makes a failure reproducible.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ADMIN_KEY, StartService

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "25")

pytestmark = pytest.mark.e2e


def fuzz(spec_url: str, base_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            spec_url,
            "--url",
            base_url,
            "--checks",
            "not_a_server_error",
            "--max-examples",
            EXAMPLES,
            "--seed",
            "20261122",
            "--request-timeout",
            "10",
            "--header",
            f"X-API-Key: {ADMIN_KEY}",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"},
    )


async def test_catalog_api_has_no_5xx(start_service: StartService) -> None:
    catalog = await start_service("catalog")
    result = await asyncio.to_thread(fuzz, f"{catalog.url}/openapi.json", catalog.url)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


async def test_orders_api_has_no_5xx(start_service: StartService) -> None:
    await start_service("catalog")
    orders = await start_service("orders")
    result = await asyncio.to_thread(fuzz, f"{orders.url}/openapi.json", orders.url)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


async def test_gateway_api_has_no_5xx(start_service: StartService) -> None:
    await start_service("catalog")
    await start_service("orders")  # the orders routes would otherwise answer 503, rightly
    gateway = await start_service("api-gateway", env={"RATE_LIMIT": "off"})
    result = await asyncio.to_thread(fuzz, f"{gateway.url}/api/openapi.json", gateway.url)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
