"""Browser origins (CORS) and the configuration that a bad value stops at start."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from api_gateway.settings import GatewaySettings
from shopfloor_common.settings import settings_errors

if TYPE_CHECKING:
    from conftest import OpenGateway, StubCatalog

ALLOWED = "https://shop.example.com"


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-API-Key, Content-Type",
    }


async def test_preflight_from_an_allowed_origin_is_granted(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    async with open_gateway(CORS_ALLOW_ORIGINS=f"{ALLOWED}, http://localhost:3000") as client:
        response = await client.options("/api/products", headers=_preflight(ALLOWED))

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "x-api-key" in allowed_headers
    assert "content-type" in allowed_headers
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["x-request-id"]
    assert stub.requests == []


async def test_preflight_from_another_origin_is_refused(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    async with open_gateway(CORS_ALLOW_ORIGINS=ALLOWED) as client:
        response = await client.options("/api/products", headers=_preflight("https://evil.example"))

    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_cross_origin_read_exposes_the_request_id(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    async with open_gateway(CORS_ALLOW_ORIGINS=ALLOWED) as client:
        response = await client.get("/api/products/MUG-001", headers={"Origin": ALLOWED})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


async def test_no_origins_configured_means_same_origin_only(stub: StubCatalog, open_gateway: OpenGateway) -> None:
    async with open_gateway() as client:
        response = await client.get("/api/products/MUG-001", headers={"Origin": ALLOWED})

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CORS_ALLOW_ORIGINS", "https://shop.example.com/"),
        ("RATE_LIMIT", "lots"),
        ("RATE_LIMIT", "10/second;100/minute"),
        ("CATALOG_URL", "catalog:8081"),
        ("UPSTREAM_TIMEOUT_SECONDS", "0"),
        ("RATE_LIMIT_TRUSTED_PROXY_HOPS", "-1"),
    ],
)
def test_bad_configuration_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        GatewaySettings()

    assert [line.split(":")[0] for line in settings_errors(raised.value)] == [variable]


@pytest.mark.parametrize("value", ["0", "off", "OFF"])
def test_rate_limit_can_be_switched_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("RATE_LIMIT", value)
    assert GatewaySettings().rate_limit_item is None


def test_defaults_match_the_local_run_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PORT", "SERVICE_NAME", "CATALOG_URL", "CORS_ALLOW_ORIGINS", "RATE_LIMIT"):
        monkeypatch.delenv(variable, raising=False)
    settings = GatewaySettings()

    assert (settings.port, settings.service_name, settings.catalog_url) == (
        8080,
        "api-gateway",
        "http://127.0.0.1:8081",
    )
    assert settings.cors_allow_origins == []
    assert settings.rate_limit_item is not None
    assert (settings.rate_limit_item.amount, settings.rate_limit_item.get_expiry()) == (1200, 60)
    undocumented = [name for name, field in GatewaySettings.model_fields.items() if not field.description]
    assert undocumented == []
