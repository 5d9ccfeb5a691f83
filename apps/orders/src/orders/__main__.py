from __future__ import annotations

from pathlib import Path

from orders.app import create_app
from orders.seed import seed_demo_orders
from orders.settings import OrdersSettings
from shopfloor_common.service_cli import run_service_cli

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def main() -> None:
    run_service_cli("orders", OrdersSettings, create_app, migrations_dir=MIGRATIONS_DIR, seed=seed_demo_orders)


if __name__ == "__main__":
    main()
