"""Docs generated from the code: `config-table`."""

from __future__ import annotations

import argparse

from shopfloor.commands import CommandGroup, repo_root

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
