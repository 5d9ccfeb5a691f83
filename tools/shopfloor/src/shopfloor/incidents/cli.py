"""Incident commands: `incident check` (an incident issue's sections and labels), `postmortem` (lint; draft
from a chaos record or a lab run), `runbooks` (the knowledge base's index, runbooks/README.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from shopfloor.commands import CommandError, CommandGroup

TITLE = "incidents"


def register(group: CommandGroup) -> None:
    incident = group.add(
        "incident",
        help="incident issues (.github/ISSUE_TEMPLATE/incident.yml): check an issue's sections, say its labels",
        handler=_incident,
    )
    incident_actions = incident.add_subparsers(dest="incident_command", required=True, metavar="ACTION")
    check = incident_actions.add_parser(
        "check",
        help="check an incident issue's body (as GitHub renders the form) and print the labels it should carry",
        description="Read an incident issue's body as GitHub renders the issue form (`### <label>` sections): every "
        "section present, the required ones answered, the start time in UTC, the layer one of AWS, Kubernetes, "
        "application; with --closed the timeline, root cause and actions too. Prints one problem a line and exits 1 "
        "when there is any; --labels-out writes the labels (incident, layer/<layer>) one a line either way.",
    )
    check.add_argument("--body-file", type=Path, required=True, metavar="FILE", help="the issue body ('-' = stdin)")
    check.add_argument("--closed", action="store_true", help="the incident is closed: everything must be written")
    check.add_argument("--labels-out", type=Path, metavar="FILE", help="write the labels here, one a line")

    runbooks = group.add(
        "runbooks",
        help="the runbooks' index (runbooks/README.md) by alert, symptom and layer, with the labs that practise each",
        handler=_runbooks,
    )
    runbooks.add_argument("--write", action="store_true", help="update runbooks/README.md instead of printing it")
    runbooks.add_argument("--check", action="store_true", help="exit 1 when runbooks/README.md is out of date")

    postmortem = group.add(
        "postmortem",
        help="postmortems in the project's format (docs/postmortems/TEMPLATE.md): lint, draft",
        handler=_postmortem,
    )
    actions = postmortem.add_subparsers(dest="postmortem_command", required=True, metavar="ACTION")
    lint = actions.add_parser(
        "lint",
        help="check sections, timeline order and (with --alerts) that the alerts it names happened then",
        description="Check postmortems: every section of the template in order and filled (a draft may keep "
        "its prompts with --draft), every timeline line `- YYYY-MM-DD HH:MM:SS — what (source)` in UTC and "
        "oldest first, and, given the delivered alerts (the local receiver's alerts.jsonl or a chaos record's), "
        "that each alert the timeline names was delivered at that time. Exit 1 when a problem is found.",
    )
    lint.add_argument("files", nargs="+", type=Path, metavar="FILE")
    lint.add_argument("--alerts", type=Path, metavar="FILE", help="alerts delivered (JSON lines of the receiver)")
    lint.add_argument("--draft", action="store_true", help="allow the template's <prompts> (a draft)")
    lint.add_argument("--tolerance", type=float, default=2.0, metavar="SECONDS", help="for alert times (default 2)")
    draft = actions.add_parser(
        "draft",
        help="draft a postmortem from a chaos record (var/chaos/<run>/)",
        description="Render a postmortem draft in the template's sections from a chaos record: the timeline from "
        "the Chaos Toolkit journal, the run's marks and the alerts delivered, the impact from the blast radius, "
        "the error budget and the consistency check. Root causes, action items and lessons stay prompts.",
    )
    draft.add_argument("record", type=Path, metavar="RECORD_DIR")
    draft.add_argument("--out", type=Path, metavar="FILE", help="write it here (default: print it)")


def _incident(args: argparse.Namespace) -> int:
    import sys

    from shopfloor.incidents.report import check

    if str(args.body_file) == "-":
        body = sys.stdin.read()
    else:
        try:
            body = args.body_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"--body-file {args.body_file}: {exc.strerror}") from None
    report = check(body, closed=args.closed)
    if args.labels_out is not None:
        args.labels_out.write_text("".join(f"{label}\n" for label in report.labels), encoding="utf-8")
    for problem in report.problems:
        print(problem)
    if not report.problems:
        print(f"incident report fine; labels: {', '.join(report.labels)}")
    return 1 if report.problems else 0


def _runbooks(args: argparse.Namespace) -> int:
    from shopfloor.commands import repo_root, write_or_check_files
    from shopfloor.incidents.knowledge import INDEX, index_text

    repo = repo_root(args)
    try:
        text = index_text(repo)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    target = Path(INDEX)
    current = (repo / target).read_text(encoding="utf-8") if (repo / target).is_file() else ""
    return write_or_check_files(args, repo, {target: (current, text)}, printed=text, command="shopfloor runbooks")


def _postmortem(args: argparse.Namespace) -> int:
    if args.postmortem_command == "lint":
        return _lint(args)
    if args.postmortem_command == "draft":
        return _draft(args)
    raise CommandError(f"unknown action {args.postmortem_command}")


def _lint(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from shopfloor.incidents.postmortem import lint
    from shopfloor.observe.receiver import read_events

    alerts = None
    if args.alerts is not None:
        if not args.alerts.is_file():
            raise CommandError(f"--alerts: no file {args.alerts}")
        alerts = read_events(args.alerts)
    failed = 0
    for path in args.files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from None
        problems = lint(text, alerts=alerts, tolerance=timedelta(seconds=args.tolerance), allow_placeholders=args.draft)
        for problem in problems:
            print(f"{path}: {problem}")
        failed += bool(problems)
    if not failed:
        print(f"{len(args.files)} postmortem(s) fine")
    return 1 if failed else 0


def _draft(args: argparse.Namespace) -> int:
    import json

    from shopfloor.chaos.record import RecordError, postmortem_draft, read_record

    try:
        record = read_record(args.record)
    except RecordError as exc:
        raise CommandError(str(exc)) from None
    journal_file = args.record / "journal.json"
    journal = None
    if journal_file.is_file():
        try:
            journal = json.loads(journal_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CommandError(f"{journal_file} is not JSON: {exc}") from None
    text = postmortem_draft(record, journal)
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0
