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
    scan = actions.add_parser(
        "scan-images",
        help="scan the images `make images` built: fail on fixable HIGH/CRITICAL (the release workflow's policy)",
        description="Runs Trivy on each image of the images report with the release workflow's policy and the "
        "dated exceptions of .trivyignore.yaml. Without Trivy on the PATH it says so and passes, unless --require.",
    )
    scan.add_argument(
        "--report", type=Path, default=Path("var/images.json"), help="images report (default: %(default)s)"
    )
    scan.add_argument("--require", action="store_true", help="fail when no scanner is installed")
    scan.set_defaults(handler=_scan_images)
    check = actions.add_parser(
        "check-ignores",
        help="check .trivyignore.yaml: every exception has an id, the packages it covers, a reason and a date "
        "at most 90 days ahead",
    )
    check.set_defaults(handler=_check_ignores)


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


def _scan_images(args: argparse.Namespace) -> int:
    from shopfloor.commands import repo_root
    from shopfloor.security.scan import ScanError, images_from_report, scan_images

    repo = repo_root(args)
    report = args.report if args.report.is_absolute() else repo / args.report
    try:
        images = images_from_report(report)
    except ScanError as exc:
        raise CommandError(str(exc)) from None
    return scan_images(repo, images, require=args.require)


def _check_ignores(args: argparse.Namespace) -> int:
    import datetime as dt

    from shopfloor.commands import repo_root
    from shopfloor.security.scan import IGNORE_FILE, ignore_problems, images_pinned

    repo = repo_root(args)
    problems = ignore_problems((repo / IGNORE_FILE).read_text(encoding="utf-8"), dt.date.today(), images_pinned(repo))
    for problem in problems:
        print(problem)
    return 1 if problems else 0
