"""Observability commands: `slo` (generate, report), `alerts`, `logs`."""

from __future__ import annotations

import argparse

from shopfloor.commands import CommandError, CommandGroup, repo_root

TITLE = "observe"


def register(group: CommandGroup) -> None:
    slo = group.add(
        "slo",
        help="SLOs as code: generate rules, dashboards and k6 thresholds from observability/slos.yaml",
        handler=_slo,
    )
    actions = slo.add_subparsers(dest="slo_command", required=True, metavar="ACTION")
    generate = actions.add_parser(
        "generate",
        help="write observability/generated/ from observability/slos.yaml",
        description="Write the recording rules and burn-rate alerts (production and lab profiles), the "
        "dashboards and the k6 thresholds made from observability/slos.yaml into observability/generated/.",
    )
    generate.add_argument("--check", action="store_true", help="exit 1 when a generated file is out of date")


def _slo(args: argparse.Namespace) -> int:
    from shopfloor.observe.generate import stale_files, write_generated
    from shopfloor.observe.slos import SloError

    repo = repo_root(args)
    try:
        if args.check:
            stale = stale_files(repo)
            for name in stale:
                print(f"out of date: {name}")
            if stale:
                print("run `shopfloor slo generate` and commit the result")
            return 1 if stale else 0
        for path in write_generated(repo):
            print(f"wrote {path}")
    except SloError as exc:
        raise CommandError(str(exc)) from None
    return 0
