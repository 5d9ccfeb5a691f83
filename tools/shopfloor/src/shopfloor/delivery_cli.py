"""The `bump`, `promote` and `smoke` subcommands (arguments and output; the work is in delivery/smoke)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shopfloor import smoke
from shopfloor.delivery.bump import (
    PROMOTION_ORDER,
    DeliveryError,
    bump,
    commit,
    current_branch,
    format_command,
    plan_promotion,
    promote,
    push_with_retry,
)


def add_delivery_commands(commands: Any) -> None:
    bump_parser = commands.add_parser(
        "bump",
        help="set one service's image tag (and digest) in one environment's image.yaml",
        description="Edit environments/<env>/<service>/image.yaml in place (comments and formatting kept). "
        "Idempotent: the same tag twice changes nothing. A new tag without --digest clears the old digest. "
        "With --commit it commits; with --push BRANCH it also pushes, rebasing and retrying when someone "
        "else pushed first. Exit 2 on a malformed tag or digest.",
    )
    bump_parser.add_argument("--env", required=True, help="environment under environments/")
    bump_parser.add_argument("--service", required=True, help="service folder under environments/<env>/")
    bump_parser.add_argument("--tag", required=True, help="image tag (CI: the commit sha)")
    bump_parser.add_argument("--digest", help="sha256:<64 hex> the nodes pull")
    bump_parser.add_argument("--commit", action="store_true", help="commit the change on the current branch")
    bump_parser.add_argument("--push", metavar="BRANCH", help="commit and push to origin/BRANCH (rebase and retry)")

    promote_parser = commands.add_parser(
        "promote",
        help=f"copy image files to the next environment ({' -> '.join(PROMOTION_ORDER)}) on a new branch",
        description="Copy environments/<from>/<service>/image.yaml to <to>, on a new branch with one commit "
        "listing old -> new per service, then open a pull request with gh (or print the gh command). Refuses "
        "to skip staging and to promote an image the source does not run (its file must be the one at "
        "--deployed-ref, and equal --tag when given).",
    )
    promote_parser.add_argument("--from", dest="source", required=True, choices=PROMOTION_ORDER[:-1])
    promote_parser.add_argument("--to", dest="target", required=True, choices=PROMOTION_ORDER[1:])
    which = promote_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--service", action="append", help="service to promote (repeatable)")
    which.add_argument("--all", action="store_true", help="every service with an image file in the source")
    promote_parser.add_argument("--tag", help="refuse unless the source runs this tag (e.g. what you tested)")
    promote_parser.add_argument(
        "--deployed-ref", default="HEAD", help="the revision the source environment runs (default HEAD)"
    )
    promote_parser.add_argument("--dry-run", action="store_true", help="print the image lines that would change")

    smoke_parser = commands.add_parser(
        "smoke",
        help="check the public endpoints of a running shop (make smoke, make kind-smoke, the PostSync Job)",
        description=(smoke.__doc__ or "").split("\n\n")[1].replace("\n", " "),
    )
    smoke.add_arguments(smoke_parser)


def run_delivery_command(repo: Path, args: argparse.Namespace) -> int:
    try:
        if args.command == "bump":
            return _bump(repo, args)
        if args.command == "promote":
            return _promote(repo, args)
    except DeliveryError as exc:
        print(f"shopfloor {args.command}: {exc}", file=sys.stderr)
        return 2
    return smoke.run_smoke(args)


def _bump(repo: Path, args: argparse.Namespace) -> int:
    result = bump(repo, args.env, args.service, args.tag, args.digest)
    where = result.path.relative_to(repo)
    if not result.changed:
        print(f"{where}: already {result.new.short}")
    else:
        print(f"{where}: {result.old.short} -> {result.new.short}")
        if args.commit or args.push:
            message = f"Bump {args.service} in {args.env} to {result.new.short}\n\nwas {result.old.short}\n"
            sha = commit(repo, [result.path], message)
            print(f"committed {sha[:12]} on {current_branch(repo)}")
    if args.push:
        attempts = push_with_retry(repo, args.push)
        print(f"pushed to origin/{args.push}" + (f" after {attempts - 1} rebase(s)" if attempts > 1 else ""))
    return 0


def _promote(repo: Path, args: argparse.Namespace) -> int:
    changes = plan_promotion(
        repo,
        args.source,
        args.target,
        None if args.all else args.service,
        deployed_ref=args.deployed_ref,
        expect_tag=args.tag,
    )
    if args.dry_run:
        if not changes:
            print(f"nothing to promote: {args.target} already runs what {args.source} runs")
        for change in changes:
            print("\n".join(change.diff(repo)))
        return 0
    promotion = promote(repo, args.source, args.target, changes)
    print(promotion.message, end="")
    print(f"committed {promotion.commit[:12]} on the new branch {promotion.branch}")
    if promotion.pr_opened:
        print("opened a pull request with gh")
    else:
        print("gh is not installed; push the branch and open the pull request with:")
        print(f"  git push --set-upstream origin {promotion.branch}")
        print(f"  {format_command(promotion.pr_command)}")
    return 0
