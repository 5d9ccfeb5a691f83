"""`shopfloor`: the repo's operations, called by the Makefile, CI, learners and tests alike.

Commands come in groups, one subpackage each (shopfloor/commands.py says how a group joins).
The base install (the tools image) has only the standard library: `--help` and `smoke` work there,
and any other command says it needs the `full` extra instead of failing with a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from shopfloor.chaos import cli as chaos
from shopfloor.commands import CommandError, CommandGroup
from shopfloor.delivery import cli as delivery
from shopfloor.docs import cli as docs
from shopfloor.incidents import cli as incidents
from shopfloor.labs import cli as labs
from shopfloor.local import cli as local
from shopfloor.measure import cli as measure
from shopfloor.observe import cli as observe
from shopfloor.repo import RepoNotFound
from shopfloor.security import cli as security

GROUPS: tuple[ModuleType, ...] = (local, delivery, observe, chaos, incidents, labs, measure, security, docs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shopfloor",
        description="Shopfloor repository operations.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repo", type=Path, help="the repository root (default: found from the working directory)")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of those below")
    groups = []
    for module in GROUPS:
        group = CommandGroup(module.TITLE, subcommands)
        module.register(group)
        groups.append(group)
    width = max(len(name) for group in groups for name, _ in group.listing)
    sections = []
    for group in groups:
        rows = "\n".join(f"  {name.ljust(width)}  {help_text}" for name, help_text in group.listing)
        sections.append(f"{group.title}:\n{rows}")
    parser.epilog = "\n\n".join(sections) + "\n\n`shopfloor COMMAND --help` tells more about one."
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except (CommandError, RepoNotFound) as exc:
        print(f"shopfloor {args.command}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except ModuleNotFoundError as exc:
        if not exc.name or exc.name.partition(".")[0] == "shopfloor":
            raise
        print(
            f"shopfloor {args.command}: needs {exc.name}, which this install lacks: it is the base install "
            "(the tools image: `smoke` only). Install the full CLI: pip install 'shopfloor[full]' (make venv does).",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    raise SystemExit(code)
