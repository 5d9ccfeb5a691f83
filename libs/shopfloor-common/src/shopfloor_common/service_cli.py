"""The command line every service has: `<service> serve | migrate | seed`.

`make run`, container images and Kubernetes Jobs all start services through it, so a service
is started the same way everywhere.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TypeVar

from fastapi import FastAPI

from shopfloor_common.health import Lifecycle
from shopfloor_common.server import serve
from shopfloor_common.settings import DatabaseSettings, ServiceSettings, load_settings

S = TypeVar("S", bound=ServiceSettings)


def run_service_cli(
    name: str,
    settings_class: type[S],
    create_app: Callable[[S], FastAPI],
    *,
    migrations_dir: Path | None = None,
    seed: Callable[[S], Coroutine[None, None, int]] | None = None,
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=name, description=f"Shopfloor {name} service")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve HTTP (the default)")
    if migrations_dir is not None:
        commands.add_parser("migrate", help="apply database migrations up to the newest")
    if seed is not None:
        commands.add_parser("seed", help="add demo data when the database is empty")
    args = parser.parse_args(argv)
    settings = load_settings(settings_class)

    if args.command == "migrate":
        # Here, not at the top: a service without a database (the frontend) has no `db` extra.
        from shopfloor_common.db import upgrade_to_head

        assert migrations_dir is not None
        assert isinstance(settings, DatabaseSettings)
        upgrade_to_head(migrations_dir, settings.database_url)
        print(f"{name}: database migrated")
    elif args.command == "seed":
        assert seed is not None
        added = asyncio.run(seed(settings))
        print(f"{name}: seeded {added} records" if added else f"{name}: data present, nothing seeded")
    else:
        app = create_app(settings)
        lifecycle: Lifecycle = app.state.lifecycle
        serve(app, settings, lifecycle)
