from __future__ import annotations

from frontend.app import create_app
from frontend.settings import FrontendSettings
from shopfloor_common.service_cli import run_service_cli


def main() -> None:
    run_service_cli("frontend", FrontendSettings, create_app)


if __name__ == "__main__":
    main()
