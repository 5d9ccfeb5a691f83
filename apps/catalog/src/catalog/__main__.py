from __future__ import annotations

from pathlib import Path

from catalog.app import create_app
from catalog.seed import seed_demo_products
from catalog.settings import CatalogSettings
from shopfloor_common.service_cli import run_service_cli

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def main() -> None:
    run_service_cli("catalog", CatalogSettings, create_app, migrations_dir=MIGRATIONS_DIR, seed=seed_demo_products)


if __name__ == "__main__":
    main()
