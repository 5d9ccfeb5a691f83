from __future__ import annotations

from api_gateway.app import create_app
from api_gateway.settings import GatewaySettings
from shopfloor_common.service_cli import run_service_cli


def main() -> None:
    run_service_cli("api-gateway", GatewaySettings, create_app)


if __name__ == "__main__":
    main()
