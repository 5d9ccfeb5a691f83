"""Docs generated from the code: `config-table`, `service-readmes`."""

from __future__ import annotations

import argparse
from pathlib import Path

from shopfloor.commands import CommandError, CommandGroup, repo_root, write_or_check_block, write_or_check_files

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
        updates = {path.relative_to(repo): texts for path, texts in readme_updates(repo).items()}
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    printed = "".join(f"==> {path}\n{updated}\n" for path, (_, updated) in updates.items())
    return write_or_check_files(args, repo, updates, printed=printed, command="shopfloor service-readmes")


def _config_table(args: argparse.Namespace) -> int:
    from shopfloor.docs.config_table import config_table, replace_table

    repo = repo_root(args)
    return write_or_check_block(
        args,
        repo,
        Path("README.md"),
        config_table(repo),
        replace_table,
        what="configuration table",
        command="shopfloor config-table",
    )
