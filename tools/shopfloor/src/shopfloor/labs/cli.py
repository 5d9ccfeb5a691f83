"""Lab commands: `shopfloor lab list|start|status|hint|answer|verify|reset|report|stop|table`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shopfloor.commands import CommandError, CommandGroup, repo_root, write_or_check_block

TITLE = "labs"


def register(group: CommandGroup) -> None:
    lab = group.add(
        "lab",
        help="troubleshooting labs that grade themselves (labs/, docs/labs.md)",
        handler=_no_action,
        description="Labs: a fault is injected into a running shop (or a broken manifest or Terraform module is "
        "given to you); you detect it, diagnose it (`answer`), fix or live with it, and `verify` says whether "
        "you did. Progress and scores are kept in var/labs/progress.json. docs/labs.md has the learning path.",
    )
    actions = lab.add_subparsers(dest="lab_command", required=True, metavar="ACTION")

    def on_a_lab(name: str, handler: Any, **parser: Any) -> argparse.ArgumentParser:
        """An action on one lab: its ID first."""
        action: argparse.ArgumentParser = actions.add_parser(name, **parser)
        action.add_argument("lab_id", metavar="ID")
        action.set_defaults(handler=handler)
        return action

    listing = actions.add_parser("list", help="the labs: id, title, level, layer, minutes, done and score")
    listing.add_argument("--json", action="store_true", help="JSON for tooling")
    listing.set_defaults(handler=_list)

    start = on_a_lab(
        "start",
        _start,
        help="prepare the lab: start the lab shop in the background (once) and inject the lab's fault",
        description="Start the lab: for a local-stack lab, the lab shop (the services on PostgreSQL and Redis, "
        "Prometheus, Alertmanager, customers; it keeps running in the background until `shopfloor lab stop`) "
        "and the lab's fault, unnamed; for an offline lab, its workspace under var/labs/<id>/workspace.",
    )
    start.add_argument("--postgres", help="PostgreSQL server (default $LAB_POSTGRES_URL or postgres@127.0.0.1:5432)")
    start.add_argument("--redis", help="Redis (default $LAB_REDIS_URL or redis://127.0.0.1:6379/0)")
    start.add_argument("--customers", type=float, default=4.0, help="customer requests per second (default 4)")

    status = actions.add_parser(
        "status", help="where the lab shop is (URLs, files, pids, releases) and the lab running"
    )
    status.add_argument("--json", action="store_true")
    status.add_argument(
        "--wait",
        action="store_true",
        help="first wait until the deploy repository's HEAD is deployed and every service is up (2 minutes at "
        "most), then until the shop serves a product read and a checkout again (a minute at most; exit 1 if not)",
    )
    status.add_argument("--pid", metavar="SERVICE", help="print only this service's process id (for kill)")
    status.add_argument(
        "--get",
        metavar="KEY",
        help="print one value for scripts: edge_url, gateway_url, prometheus_url, alertmanager_url, alerts_file, "
        "logs_dir, deploy_repo, initial_stock, admin_key_file, lab_dir",
    )
    status.set_defaults(handler=_status)

    on_a_lab("hint", _hint, help="the next hint of a lab (each costs points; shown hints are repeated free)")

    answer = on_a_lab(
        "answer",
        _answer,
        help="your diagnosis: layer, component and cause category (labs/causes.yaml)",
        description="Your diagnosis, checked against the lab's ground truth. A wrong answer costs 10 points; "
        "which parts were right is said. Causes: the categories of labs/causes.yaml.",
    )
    answer.add_argument("--layer", required=True, help="application, kubernetes or aws")
    answer.add_argument("--component", required=True, help="what is at fault: a service, a dependency, a resource")
    answer.add_argument("--cause", required=True, help="a category of labs/causes.yaml")

    on_a_lab("verify", _verify, help="check the end state and the diagnosis; exit 0 only when solved")
    on_a_lab("reset", _reset, help="remove the lab's fault: every service back to the healthy release")

    report = actions.add_parser("report", help="scores, time to diagnose and to fix, hints used, what to read next")
    report.add_argument("--json", action="store_true")
    report.set_defaults(handler=_report)

    alerts = on_a_lab(
        "alerts",
        _alerts,
        help="the alerts delivered since the lab started (the lab shop's receiver); --wait for the lab's own",
        description="The alerts the lab shop's Alertmanager delivered since this lab started, oldest first: when, "
        "firing or resolved, the alert and where. With --wait, first wait (at most that long) until one of the "
        "alerts the lab expects has fired; exit 1 if none did.",
    )
    alerts.add_argument("--wait", type=float, default=0.0, metavar="SECONDS")

    draft = on_a_lab(
        "postmortem",
        _postmortem,
        help="draft the postmortem of a lab run: var/labs/<id>/postmortem.md, timeline from the alerts and deploys",
        description="Write a postmortem draft in the project's format (docs/postmortems/TEMPLATE.md) for the lab "
        "running: the timeline from the alerts the lab shop delivered since the lab started and the deploy "
        "repository's commits; root causes, action items and lessons are prompts for you to replace. "
        "`shopfloor lab verify` lints the finished file against the alerts delivered.",
    )
    draft.add_argument("--force", action="store_true", help="overwrite an existing file")
    draft.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to this long for one of the lab's alerts to be delivered first (default: do not wait)",
    )

    stop = actions.add_parser("stop", help="stop the lab shop running in the background")
    stop.set_defaults(handler=_stop)

    table = actions.add_parser("table", help="the learning-path table of docs/labs.md; --write or --check it")
    table.add_argument("--write", action="store_true")
    table.add_argument("--check", action="store_true")
    table.set_defaults(handler=_table)

    validate = actions.add_parser("validate", help="check every labs/<id>/lab.yaml; exit 1 naming the problem")
    validate.set_defaults(handler=_validate)


def lab_folder(repo: Path, lab_id: str) -> Path:
    from shopfloor.labs.model import lab_folder as folder

    return folder(repo, lab_id)


def _no_action(args: argparse.Namespace) -> int:
    raise CommandError("name an action: list, start, status, hint, answer, verify, reset, report, stop")


def _labs(repo: Path) -> list:  # type: ignore[type-arg]
    from shopfloor.labs.model import LabError, load_labs

    try:
        return load_labs(repo)
    except LabError as exc:
        raise CommandError(str(exc)) from None


def _lab(repo: Path, lab_id: str):  # type: ignore[no-untyped-def]
    for lab in _labs(repo):
        if lab.id == lab_id:
            return lab
    raise CommandError(f"no lab {lab_id!r}: `shopfloor lab list` shows them")


def _progress(repo: Path):  # type: ignore[no-untyped-def]
    from shopfloor.labs.progress import Progress

    try:
        return Progress.load(repo)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _labs_and_progress(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    repo = repo_root(args)
    return _labs(repo), _progress(repo)


def _attempt(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """(repo, lab, progress, attempt): the lab named on the command line and its attempt under
    way; CommandError when it was not started."""
    repo = repo_root(args)
    lab = _lab(repo, args.lab_id)
    progress = _progress(repo)
    try:
        attempt = progress.attempt(lab.id)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    return repo, lab, progress, attempt


def _attempt_on_shop(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """(repo, lab, when the attempt began, the lab shop's status) for the commands that read what
    the shop delivered during the attempt (alerts, postmortem)."""
    from datetime import datetime

    from shopfloor.labs import client

    repo, lab, _, attempt = _attempt(args)
    try:
        state = client.call(repo, "GET", "/status")
    except client.ShopError as exc:
        raise CommandError(str(exc)) from None
    return repo, lab, datetime.fromisoformat(attempt.started_at), state


def lab_state(lab, progress) -> str:  # type: ignore[no-untyped-def]
    """done (score), started, needs kb15 engine, not started."""
    from shopfloor.labs.model import offline_engine

    entry = progress.labs.get(lab.id)
    if entry is not None and entry.done:
        return f"done ({entry.best_score})"
    if lab.runs_on == "offline" and offline_engine() is None:
        return "needs kb15 engine"
    if lab.runs_on in ("kind", "aws"):
        return f"needs {lab.runs_on}"
    if entry is not None and entry.attempt is not None:
        return "started"
    return "-"


def _list(args: argparse.Namespace) -> int:
    import json

    labs, progress = _labs_and_progress(args)
    rows = []
    for lab in labs:
        entry = progress.labs.get(lab.id)
        rows.append(
            {
                "id": lab.id,
                "title": lab.title,
                "level": lab.level,
                "layer": lab.layer,
                "estimated_minutes": lab.estimated_minutes,
                "runs_on": lab.runs_on,
                "state": lab_state(lab, progress),
                "done": bool(entry and entry.done),
                "score": entry.best_score if entry else None,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("id", "level", "layer", "min", "runs on", "state", "title")
    table = [header] + [
        (r["id"], r["level"], r["layer"], str(r["estimated_minutes"]), r["runs_on"], r["state"], r["title"])
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1])
    return 0


def _start(args: argparse.Namespace) -> int:
    from shopfloor.labs import client

    repo = repo_root(args)
    lab = _lab(repo, args.lab_id)
    progress = _progress(repo)
    folder = lab_folder(repo, lab.id)
    if lab.runs_on in ("kind", "aws"):
        raise CommandError(f"{lab.id} runs on {lab.runs_on}: follow labs/{lab.id}/README.md (not run by this tool)")
    if lab.runs_on == "offline":
        from shopfloor.labs.model import offline_engine

        engine = offline_engine()
        if engine is None:
            raise CommandError(
                f"{lab.id} is an offline lab and needs kb15 engine (shopfloor/labs/offline.py), not merged yet"
            )
        import shutil

        workspace = folder / "workspace"
        if workspace.exists():
            shutil.rmtree(workspace)
        workspace.mkdir(parents=True)
        try:
            engine.prepare(repo, lab.directory, lab.offline, workspace)
        except ValueError as exc:  # OfflineLabError and MissingTool say what is wrong and how to fix it
            raise CommandError(f"{lab.id}: {exc}") from None
        progress.start(lab.id)
        progress.save()
        shown = workspace.relative_to(repo) if workspace.is_relative_to(repo) else workspace
        print(f"lab {lab.id} started: your workspace is {shown}; read labs/{lab.id}/README.md")
        return 0
    try:
        client.ensure_shop(
            repo,
            postgres=args.postgres or client.default_postgres(),
            redis=args.redis or client.default_redis(),
            customers=args.customers,
        )
        from shopfloor.labs.progress import now

        began = now()  # the incident begins with the injection (an incident lab's happens during it)
        state = client.call(repo, "POST", "/inject", {"lab": lab.id})
    except client.ShopError as exc:
        raise CommandError(str(exc)) from None
    folder.mkdir(parents=True, exist_ok=True)
    progress.start(lab.id).started_at = began
    progress.save()
    print(f"lab {lab.id} started: something is wrong with the shop. Read labs/{lab.id}/README.md.")
    print(f"  the shop:      {state['edge_url']}")
    print(f"  Prometheus:    {state['prometheus_url']}")
    print(f"  Alertmanager:  {state['alertmanager_url']}")
    print(f"  alerts:        shopfloor alerts --file {_rel(repo, state['alerts_file'])}")
    print(f"  logs:          shopfloor logs --dir {_rel(repo, state['logs_dir'])}")
    print(f"  deploy repo:   {_rel(repo, state['deploy_repo'])}  (git log; the shop syncs its HEAD every second)")
    return 0


def _rel(repo: Path, path: str) -> str:
    try:
        return str(Path(path).relative_to(repo))
    except ValueError:
        return path


def _status(args: argparse.Namespace) -> int:
    import json
    import sys

    from shopfloor.labs import client

    repo = repo_root(args)
    state = client.read_state(repo)
    if state is None or "control_url" not in state:
        if args.pid:
            raise CommandError("no lab shop is running")
        print("no lab shop is running (`shopfloor lab start ID` starts one)")
        return 1
    try:
        state = client.settled(repo) if args.wait else client.call(repo, "GET", "/status")
        if args.wait and not client.call(repo, "GET", "/serving?timeout=60")["serving"]:
            print("the shop is deployed but does not serve product reads and checkouts yet", file=sys.stderr)
            return 1
    except client.ShopError as exc:
        raise CommandError(str(exc)) from None
    if args.pid:
        service = state["services"].get(args.pid)
        if service is None:
            raise CommandError(f"no service {args.pid!r} (services: {', '.join(state['services'])})")
        if service["pid"] is None:
            raise CommandError(f"{args.pid} is not running")
        print(service["pid"])
        return 0
    if args.get:
        if args.get == "lab_dir":
            if not state["lab"]:
                raise CommandError("no lab is running")
            print(lab_folder(repo, state["lab"]))
            return 0
        value = state.get(args.get)
        if not isinstance(value, str):
            raise CommandError(f"--get: no value {args.get!r} (see --help)")
        print(value)
        return 0
    if args.json:
        print(json.dumps(state, indent=2))
        return 0
    print(f"lab running:   {state['lab'] or 'none'}")
    print(f"the shop:      {state['edge_url']}   (API {state['gateway_url']})")
    print(f"Prometheus:    {state['prometheus_url']}")
    print(f"Alertmanager:  {state['alertmanager_url']}")
    print(f"alerts file:   {_rel(repo, state['alerts_file'])}")
    print(f"logs:          {_rel(repo, state['logs_dir'])}")
    print(f"deploy repo:   {_rel(repo, state['deploy_repo'])} (deployed {state['deployed'][:8]})")
    print(f"databases:     {state['postgres_url']} {state['databases']}")
    customers = state["customers"]
    print(f"customers:     {customers['requests']} requests, {customers['failed']} failed")
    print("services:")
    for name, service in state["services"].items():
        running = f"pid {service['pid']}" if service["running"] else "NOT RUNNING"
        print(f"  {name:<12} {service['url']:<24} {running:<12} release {service['release']}")
    return 0


def _hint(args: argparse.Namespace) -> int:
    _, lab, progress, attempt = _attempt(args)
    if attempt.hints_shown >= len(lab.hints):
        for number, hint in enumerate(lab.hints, 1):
            print(f"hint {number}/{len(lab.hints)}: {hint.text}")
        print("no more hints: the solution is in the lab's README, under Solution")
        return 0
    next_hint = lab.hints[attempt.hints_shown]
    attempt.hints_shown += 1
    attempt.hint_points += next_hint.cost
    progress.save()
    for number, hint in enumerate(lab.hints[: attempt.hints_shown], 1):
        print(f"hint {number}/{len(lab.hints)}: {hint.text}")
    print(f"(-{next_hint.cost} points; this attempt's score is now at most {attempt.score})")
    return 0


def _answer(args: argparse.Namespace) -> int:
    from shopfloor.labs.model import LAYERS, load_causes, normalise_component
    from shopfloor.labs.progress import WRONG_ANSWER_COST, now

    repo, lab, progress, attempt = _attempt(args)
    causes = load_causes(repo)
    if args.layer not in LAYERS:
        raise CommandError(f"--layer: one of {', '.join(LAYERS)}, got {args.layer!r}")
    if args.cause not in causes:
        raise CommandError(f"--cause: not a category of labs/causes.yaml: {args.cause!r} (one of {', '.join(causes)})")
    truth = lab.ground_truth
    parts = {
        "layer": args.layer == truth.layer,
        "component": normalise_component(args.component) == normalise_component(truth.component),
        "cause": args.cause == truth.cause,
    }
    attempt.answers.append({"at": now(), "layer": args.layer, "component": args.component, "cause": args.cause})
    if all(parts.values()):
        if attempt.diagnosed_at is None:
            attempt.diagnosed_at = now()
        progress.save()
        print(f"right: {truth.layer} / {truth.component} / {truth.cause}")
        return 0
    if attempt.diagnosed_at is None:
        attempt.wrong_answers += 1
    progress.save()
    right = [name for name, ok in parts.items() if ok]
    wrong = [name for name, ok in parts.items() if not ok]
    print(f"not quite: {', '.join(wrong)} wrong" + (f" ({', '.join(right)} right)" if right else ""))
    print(f"(-{WRONG_ANSWER_COST} points; this attempt's score is now at most {attempt.score})")
    return 1


def _verify(args: argparse.Namespace) -> int:
    import asyncio

    from shopfloor.labs import client
    from shopfloor.labs.checks import CheckResult, run_stack_checks

    repo, lab, progress, attempt = _attempt(args)
    checks: list[CheckResult] = []
    if lab.runs_on == "offline":
        from shopfloor.labs.model import offline_engine

        engine = offline_engine()
        if engine is None:
            raise CommandError(f"{lab.id} needs kb15 engine (shopfloor/labs/offline.py), not merged yet")
        result = engine.verify(lab.directory, lab.offline, lab_folder(repo, lab.id) / "workspace")
        checks.append(CheckResult("the checks of the lab", bool(result.ok), str(result.output).strip()[-2000:]))
    elif lab.runs_on == "local-stack":
        try:
            state = client.settled(repo)
            if state["lab"] != lab.id:
                raise CommandError(
                    f"the lab shop runs {state['lab'] or 'no lab'}, not {lab.id}: `shopfloor lab start {lab.id}`"
                )
            active = client.call(repo, "GET", "/fault-active")

            customers_were_on = bool(state["customers"]["on"])

            def pause(on: bool) -> None:
                client.call(repo, "POST", "/customers", {"on": on and customers_were_on})

            checks += asyncio.run(run_stack_checks(repo, lab, state, active, pause))
        except client.ShopError as exc:
            raise CommandError(str(exc)) from None
    else:
        raise CommandError(f"{lab.id} runs on {lab.runs_on}: its README says how to check it there")
    checks.append(
        CheckResult(
            "diagnosis",
            attempt.diagnosed_at is not None,
            "right" if attempt.diagnosed_at else f"not given or not right yet: `shopfloor lab answer {lab.id} ...`",
        )
    )
    for check in checks:
        print(f"{'PASS' if check.ok else 'FAIL'}  {check.name}: {check.message}")
    if all(check.ok for check in checks):
        attempt = progress.solved(lab.id)
        progress.save()
        print(f"solved: {lab.id}, score {attempt.score}/100")
        return 0
    print(f"not solved yet: {sum(not c.ok for c in checks)} check(s) fail")
    return 1


def _reset(args: argparse.Namespace) -> int:
    from shopfloor.labs import client

    repo = repo_root(args)
    lab = _lab(repo, args.lab_id)
    if lab.runs_on == "offline":
        import shutil

        workspace = lab_folder(repo, lab.id) / "workspace"
        shutil.rmtree(workspace, ignore_errors=True)
        print(f"reset {lab.id}: its workspace is removed")
        return 0
    if lab.runs_on != "local-stack":
        raise CommandError(f"{lab.id} runs on {lab.runs_on}: its README says how to undo it there")
    try:
        state = client.call(repo, "GET", "/status")
        if state["lab"] not in (None, lab.id):
            raise CommandError(f"the lab shop runs {state['lab']}, not {lab.id}")
        client.call(repo, "POST", "/reset")
    except client.ShopError as exc:
        raise CommandError(str(exc)) from None
    print(
        f"reset {lab.id}: no fault, every service on the healthy release (the shop keeps running; `shopfloor lab stop`)"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    import json

    labs, progress = _labs_and_progress(args)
    rows = []
    for lab in labs:
        entry = progress.labs.get(lab.id)
        if entry is None:
            continue
        attempt = entry.attempt
        rows.append(
            {
                "id": lab.id,
                "done": entry.done,
                "best_score": entry.best_score,
                "current_score": attempt.score if attempt else None,
                "hints_shown": attempt.hints_shown if attempt else 0,
                "wrong_answers": attempt.wrong_answers if attempt else 0,
                "seconds_to_diagnose": attempt.seconds_to(attempt.diagnosed_at) if attempt else None,
                "seconds_to_fix": attempt.seconds_to(attempt.solved_at) if attempt else None,
                "read": lab.runbooks,
            }
        )
    done = {r["id"] for r in rows if r["done"]}
    next_labs = [lab.id for lab in labs if lab.id not in done and lab_state(lab, progress) in ("-", "started")][:3]
    if args.json:
        print(json.dumps({"labs": rows, "next": next_labs}, indent=2))
        return 0
    if not rows:
        print("no lab started yet: `shopfloor lab list`, then `shopfloor lab start ID`")
    for r in rows:

        def minutes(value: float | None) -> str:
            return "-" if value is None else f"{value / 60:.1f} min"

        print(
            f"{r['id']:<24} {'done' if r['done'] else 'open':<5} best {_or_dash(r['best_score']):>3}  "
            f"hints {r['hints_shown']}  wrong answers {r['wrong_answers']}  "
            f"diagnosed in {minutes(r['seconds_to_diagnose'])}  fixed in {minutes(r['seconds_to_fix'])}"
        )
    total = sum(r["best_score"] or 0 for r in rows)
    print(f"total: {total} points, {len(done)}/{len(labs)} labs done")
    reading = sorted({runbook for r in rows for runbook in r["read"]})
    if reading:
        print("read next: " + ", ".join(reading))
    if next_labs:
        print("labs next: " + ", ".join(next_labs))
    return 0


def _postmortem(args: argparse.Namespace) -> int:
    import subprocess
    from datetime import UTC, datetime

    from shopfloor.incidents.postmortem import Draft, TimelineEvent, alert_events, render

    repo, lab, started, state = _attempt_on_shop(args)
    path = lab_folder(repo, lab.id) / "postmortem.md"
    if path.exists() and not args.force:
        raise CommandError(f"{path} exists: edit it, or --force to draft it again")
    alerts_file = Path(state["alerts_file"])
    alerts = _lab_alerts(lab, alerts_file, started, args.wait)
    if alerts is None:
        raise CommandError(f"none of the lab's alerts ({', '.join(lab.alerts)}) was delivered yet: wait and retry")
    events = alert_events(alerts)
    log = subprocess.run(  # noqa: S603 - git on the lab's own deploy repository
        ["git", "-C", state["deploy_repo"], "log", "--format=%ct %s", f"--since={int(started.timestamp()) - 600}"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for line in log.splitlines():
        stamp, _, subject = line.partition(" ")
        events.append(
            TimelineEvent(datetime.fromtimestamp(int(stamp), UTC), f"deployed: {subject}", "deploy repository")
        )
    events.append(TimelineEvent(started, "lab started (the incident begins about here)", "shopfloor lab"))
    draft = Draft(
        title=lab.title,
        summary="<What happened, in two or three sentences, for someone who was not there.>",
        impact="<Who was affected, how many requests or orders, for how long; which SLOs burned how much budget.>",
        events=events,
        trigger="<The change or event that set it off.>",
        detection="<How it was noticed: which alert, how long after it began.>",
        resolution="<What brought the service back, and when.>",
        sources=[str(alerts_file.name), "the deploy repository"],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(draft), encoding="utf-8")
    print(f"wrote {path}: replace every <prompt>, then `shopfloor lab verify {lab.id}`")
    return 0


def _lab_alerts(lab, alerts_file: Path, started, wait: float):  # type: ignore[no-untyped-def]
    """The alerts delivered since `started`, and those still firing then; None when the lab
    expects alerts and none of them fired within `wait` seconds."""
    import time

    from shopfloor.observe.receiver import read_events

    deadline = time.monotonic() + wait
    while True:
        events = read_events(alerts_file) if alerts_file.exists() else []
        # Alerts still firing when the lab began (a shared shop, an earlier incident) belong to it
        # too: Alertmanager does not deliver them again as new.
        last_before: dict[tuple[str, ...], Any] = {}
        for event in events:
            if event.received_at < started:
                last_before[tuple(sorted(f"{k}={v}" for k, v in event.labels.items()))] = event
        alerts = sorted(
            [e for e in last_before.values() if e.status == "firing"] + [e for e in events if e.received_at >= started],
            key=lambda e: e.received_at,
        )
        if not lab.alerts or {a.alertname for a in alerts if a.status == "firing"} & set(lab.alerts):
            return alerts
        if time.monotonic() >= deadline:
            return None
        time.sleep(1)


def _alerts(args: argparse.Namespace) -> int:
    from datetime import UTC

    _, lab, started, state = _attempt_on_shop(args)
    alerts = _lab_alerts(lab, Path(state["alerts_file"]), started, args.wait)
    if alerts is None:
        print(f"none of the alerts this lab expects ({', '.join(lab.alerts)}) fired within {args.wait:g}s")
        return 1
    for alert in alerts:
        where = " ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k in {"slo", "job", "upstream"})
        when = alert.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when}  {alert.status:<8} {alert.alertname:<20} {where}")
    if not alerts:
        print("no alert delivered since the lab started")
    return 0


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _stop(args: argparse.Namespace) -> int:
    from shopfloor.labs import client

    repo = repo_root(args)
    if client.stop_shop(repo):
        print("the lab shop is stopped")
    else:
        print("no lab shop was running")
    return 0


def _table(args: argparse.Namespace) -> int:
    from shopfloor.labs.table import DOC_FILE, learning_path, replace_table

    repo = repo_root(args)
    table = learning_path(_labs(repo))
    return write_or_check_block(
        args, repo, DOC_FILE, table, replace_table, what="learning path", command="shopfloor lab table"
    )


def _validate(args: argparse.Namespace) -> int:
    from shopfloor.labs.model import LabError, load_labs

    repo = repo_root(args)
    try:
        labs = load_labs(repo)
    except LabError as exc:
        print(exc)
        return 1
    print(f"{len(labs)} labs fine")
    return 0
