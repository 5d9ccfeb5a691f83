"""Security commands: `security report FILE` (kube-bench's JSON as a table of failures and their fixes)."""

from __future__ import annotations

import argparse
from pathlib import Path

from shopfloor.commands import CommandError, CommandGroup

TITLE = "security"


def register(group: CommandGroup) -> None:
    security = group.add(
        "security",
        help="security checks: kube-bench's CIS benchmark results as a table",
        handler=_no_action,
    )
    actions = security.add_subparsers(dest="security_command", required=True, metavar="ACTION")
    report = actions.add_parser(
        "report",
        help="turn kube-bench JSON (a file, or - for stdin) into a table of failures with their remediation",
        description="Reads kube-bench's --json output (the kube-bench CronJob's log: kubectl logs job/<name> "
        "-n kube-bench > bench.json) and prints the totals, then each FAIL (and with --warnings each WARN) with "
        "its test number, description and remediation. Failures listed in --accepted (docs/security.md's "
        "table by default) are marked as accepted. Exit 1 when an unaccepted failure remains.",
    )
    report.add_argument("file", help="kube-bench JSON output, or - for standard input")
    report.add_argument("--warnings", action="store_true", help="list WARN results too")
    report.add_argument(
        "--accepted",
        type=Path,
        help="a Markdown file whose table rows start with the accepted test numbers (default: docs/security.md)",
    )
    report.set_defaults(handler=_report)


def _no_action(args: argparse.Namespace) -> int:
    raise CommandError("name an action: report")


def _report(args: argparse.Namespace) -> int:
    import sys

    from shopfloor.commands import repo_root
    from shopfloor.security.kube_bench import BenchError, accepted_failures, parse_report, render_report

    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        report = parse_report(text)
    except BenchError as exc:
        raise CommandError(f"{args.file}: {exc}") from None
    accepted_file = args.accepted
    if accepted_file is None:
        try:
            accepted_file = repo_root(args) / "docs" / "security.md"
        except Exception:
            accepted_file = None
    accepted = (
        accepted_failures(accepted_file.read_text(encoding="utf-8"))
        if accepted_file and accepted_file.is_file()
        else {}
    )
    output, unaccepted = render_report(report, accepted, warnings=args.warnings)
    print(output, end="")
    return 1 if unaccepted else 0
