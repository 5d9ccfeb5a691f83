"""Docs generated from the code: `config-table`, `service-readmes`."""

from __future__ import annotations

import argparse

from shopfloor.commands import CommandError, CommandGroup, repo_root

TITLE = "docs"


def register(group: CommandGroup) -> None:
    config_table = group.add(
        "config-table",
        help="print the configuration table generated from the services' settings classes",
        handler=_config_table,
    )
    config_table.add_argument(
        "--write", action="store_true", help="replace the table in README.md instead of printing it"
    )
    config_table.add_argument(
        "--check", action="store_true", help="exit 1 when README.md's table differs from the generated one"
    )

    readmes = group.add(
        "service-readmes",
        help="write the reference part of each apps/<service>/README.md (routes, settings) from the service",
        handler=_service_readmes,
    )
    readmes.add_argument("--write", action="store_true", help="update the READMEs instead of printing them")
    readmes.add_argument("--check", action="store_true", help="exit 1 when a README's reference is out of date")


def _service_readmes(args: argparse.Namespace) -> int:
    from shopfloor.docs.service_readmes import readme_updates

    repo = repo_root(args)
    try:
        updates = readme_updates(repo)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    stale = [path for path, (current, updated) in updates.items() if current != updated]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(repo)} is out of date: run `shopfloor service-readmes --write`")
        return 1 if stale else 0
    if not args.write:
        for path, (_, updated) in updates.items():
            print(f"==> {path.relative_to(repo)}\n{updated}")
        return 0
    for path in stale:
        path.write_text(updates[path][1], encoding="utf-8")
        print(f"updated {path.relative_to(repo)}")
    return 0


def _config_table(args: argparse.Namespace) -> int:
    from shopfloor.docs.config_table import config_table, replace_table

    repo = repo_root(args)
    table = config_table(repo)
    if not (args.write or args.check):
        print(table, end="")
        return 0
    readme = repo / "README.md"
    current = readme.read_text()
    updated = replace_table(current, table)
    if args.check:
        if updated != current:
            print("README.md's configuration table is out of date: run `shopfloor config-table --write`")
            return 1
        return 0
    readme.write_text(updated)
    print(f"updated the configuration table in {readme}")
    return 0
