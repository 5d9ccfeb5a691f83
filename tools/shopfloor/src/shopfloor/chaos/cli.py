"""Chaos commands: `chaos catalogue` (the catalogue table in docs/chaos.md), `chaos validate`."""

from __future__ import annotations

import argparse

from shopfloor.commands import CommandError, CommandGroup, repo_root

TITLE = "chaos"


def register(group: CommandGroup) -> None:
    chaos = group.add(
        "chaos",
        help="chaos engineering: the fault catalogue (chaos/faults.yaml) and what it names",
        handler=_no_action,
    )
    actions = chaos.add_subparsers(dest="chaos_command", required=True, metavar="ACTION")
    catalogue = actions.add_parser(
        "catalogue",
        help="print the catalogue table of docs/chaos.md, or write or check it",
        description="The fault catalogue as a table (id, layer, what breaks, local injection, the Chaos Mesh "
        "object or FIS template, expected alerts, runbook, recovery bound), generated from chaos/faults.yaml.",
    )
    catalogue.add_argument("--write", action="store_true", help="replace the table in docs/chaos.md")
    catalogue.add_argument("--check", action="store_true", help="exit 1 when docs/chaos.md's table is out of date")
    catalogue.set_defaults(handler=_catalogue)
    validate = actions.add_parser(
        "validate",
        help="check chaos/faults.yaml and everything it names; exit 1 listing each problem",
        description="Check the catalogue on its own and against the files it names: the Chaos Mesh objects and "
        "FIS templates exist, the runbooks exist, the degraded journeys are SLO journeys, the expected "
        "alerts are defined by the alert rules, the services exist.",
    )
    validate.set_defaults(handler=_validate)


def _no_action(args: argparse.Namespace) -> int:
    raise CommandError("name an action: catalogue or validate")  # argparse requires one first


def _catalogue(args: argparse.Namespace) -> int:
    from shopfloor.chaos.catalogue import CatalogueError, read_catalogue
    from shopfloor.chaos.catalogue_table import DOC_FILE, catalogue_table, replace_table

    repo = repo_root(args)
    try:
        table = catalogue_table(repo, read_catalogue(repo))
    except CatalogueError as exc:
        raise CommandError(str(exc)) from None
    if not (args.write or args.check):
        print(table, end="")
        return 0
    document = repo / DOC_FILE
    try:
        current = document.read_text(encoding="utf-8")
        updated = replace_table(current, table)
    except (OSError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    if args.check:
        if updated != current:
            print(f"{DOC_FILE}'s catalogue table is out of date: run `shopfloor chaos catalogue --write`")
            return 1
        return 0
    if updated != current:
        document.write_text(updated, encoding="utf-8")
        print(f"updated the catalogue table in {DOC_FILE}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from shopfloor.chaos.catalogue import CatalogueError, check_references, read_catalogue

    repo = repo_root(args)
    try:
        catalogue = read_catalogue(repo)
    except CatalogueError as exc:
        print(exc)
        return 1
    problems = check_references(repo, catalogue)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problems in chaos/faults.yaml")
        return 1
    print(f"chaos/faults.yaml: {len(catalogue.faults)} faults, every reference found")
    return 0
