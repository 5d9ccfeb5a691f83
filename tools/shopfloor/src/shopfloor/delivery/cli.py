"""Delivery commands: `render`, `bump`, `promote`, `smoke`, `images`, `changed`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from shopfloor.commands import CommandError, CommandGroup, repo_root
from shopfloor.delivery import DEFAULT_REPOSITORY_PREFIX, PROMOTION_ORDER
from shopfloor.delivery import smoke as smoke_check

TITLE = "delivery"


def register(group: CommandGroup) -> None:
    render = group.add(
        "render",
        help="render an environment's manifests with Helm's engine (make render ENV=<env>)",
        handler=_render,
        description="Render every chart the environment deploys with its values from environments/<env>/, as "
        "Argo CD will apply them, into one YAML stream to read top to bottom. Without --out it is printed.",
    )
    render.add_argument(
        "--env",
        action="append",
        required=True,
        metavar="ENV",
        help="environment under environments/ (repeatable; `all` for every one)",
    )
    render.add_argument("--out", type=Path, help="write <DIR>/<env>.yaml instead of printing")

    bump = group.add(
        "bump",
        help="set one image's tag (and digest) in one environment's image file",
        handler=_bump,
        description="Edit environments/<env>/<service>/image.yaml (environments/<env>/tools-image.yaml for the "
        "tools image) in place (comments and formatting kept). "
        "Idempotent: the same tag twice changes nothing. A new tag without --digest clears the old digest. "
        "With --commit it commits; with --push BRANCH it also pushes, rebasing and retrying when someone "
        "else pushed first. Exit 2 on a malformed tag or digest.",
    )
    bump.add_argument("--env", required=True, help="environment under environments/")
    bump.add_argument("--service", required=True, help="a service folder under environments/<env>/, or tools")
    bump.add_argument("--tag", required=True, help="image tag (CI: the commit sha)")
    bump.add_argument("--digest", help="sha256:<64 hex> the nodes pull")
    bump.add_argument("--commit", action="store_true", help="commit the change on the current branch")
    bump.add_argument("--push", metavar="BRANCH", help="commit and push to origin/BRANCH (rebase and retry)")

    promote = group.add(
        "promote",
        help=f"copy image files to the next environment ({' -> '.join(PROMOTION_ORDER)}) on a new branch",
        handler=_promote,
        description="Copy environments/<from>/<service>/image.yaml (and tools-image.yaml) to <to>, on a new "
        "branch with one commit "
        "listing old -> new per service, then open a pull request with gh (or print the gh command). Refuses "
        "to skip staging and to promote an image the source does not run (its file must be the one at "
        "--deployed-ref, and equal --tag when given).",
    )
    promote.add_argument("--from", dest="source", required=True, choices=PROMOTION_ORDER[:-1])
    promote.add_argument("--to", dest="target", required=True, choices=PROMOTION_ORDER[1:])
    which = promote.add_mutually_exclusive_group(required=True)
    which.add_argument("--service", action="append", help="service (or tools) to promote (repeatable)")
    which.add_argument("--all", action="store_true", help="every image with an image file in the source")
    promote.add_argument("--tag", help="refuse unless the source runs this tag (e.g. what you tested)")
    promote.add_argument(
        "--deployed-ref", default="HEAD", help="the revision the source environment runs (default HEAD)"
    )
    promote.add_argument("--dry-run", action="store_true", help="print the image lines that would change")

    smoke = group.add(
        "smoke",
        help="check the public endpoints of a running shop (make smoke, make kind-smoke, the PostSync Job)",
        handler=_smoke,
        description="Check the public endpoints a shopper's browser uses, through the edge: the product list, "
        "one product, an unknown product's problem+json, the API description and, with --expect-frontend, the "
        "web page at /. Exit 0 every check passed, 1 a check failed (each failure named), 2 bad arguments.",
    )
    smoke_check.add_arguments(smoke)

    changed = group.add(
        "changed",
        help="which images a change touches (CI builds and bumps only these)",
        handler=_changed,
        description="Print, as a JSON array, the images (each service's, and `tools`) whose inputs differ "
        "between two commits: the paths the Dockerfile's stages for that image COPY (the service or the CLI, "
        "the shared library, the locks), the Dockerfile and .dockerignore. A base of 40 zeros, as on a new "
        "branch, means every image.",
    )
    changed.add_argument("--base", required=True, help="the commit before the change (a push's `before`)")
    changed.add_argument("--head", default="HEAD", help="the commit after the change (default HEAD)")
    changed.add_argument(
        "--github-output",
        action="store_true",
        help="also append images=<json>, matrix=<json: name, target, build_args per image> and any=true|false "
        "to the file $GITHUB_OUTPUT names",
    )

    images = group.add("images", help="build the container images (make images)", handler=_images)
    actions = images.add_subparsers(dest="images_command", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="build (and push) images",
        description="Build each image (all by default: one per service under apps/, and `tools`) from the "
        "Dockerfile with the repository root as context, tagged <PREFIX>/<image>:<TAG>. --local-base first makes "
        "(or reuses) a Debian bookworm Python 3.11 base with debootstrap and builds on it, for machines that "
        "reach no container registry. Each image's SBOM (/opt/sbom/python.cdx.json) is read back and must list "
        "exactly the image's lock, or the image is refused before any push.",
    )
    build.add_argument("images", nargs="*", metavar="IMAGE", help="images to build (default: all)")
    build.add_argument("--engine", choices=("podman", "docker"), default="podman", help="default podman")
    build.add_argument(
        "--repository-prefix", default=DEFAULT_REPOSITORY_PREFIX, help=f"default {DEFAULT_REPOSITORY_PREFIX}"
    )
    build.add_argument("--tag", default="dev", help="image tag (default dev; CI: the commit sha)")
    build.add_argument("--revision", help="the OCI revision label (default: git rev-parse HEAD)")
    build.add_argument("--source", help="the OCI source label (default: the Dockerfile's)")
    base = build.add_mutually_exclusive_group()
    base.add_argument("--base-image", help="build on this image instead of the Dockerfile's PYTHON_BASE")
    base.add_argument("--local-base", action="store_true", help="make or reuse the debootstrapped local base")
    build.add_argument("--push", action="store_true", help="push each image after building it")
    build.add_argument("--report", type=Path, metavar="FILE", help="write what was built as JSON to FILE")
    build.add_argument(
        "--sbom-dir",
        type=Path,
        metavar="DIR",
        help="keep each image's checked SBOM (CycloneDX JSON, read from the image) as DIR/<image>.cdx.json",
    )


def _render(args: argparse.Namespace) -> int:
    from shopfloor.delivery.render import RenderError, environments, render_environments, write_rendered

    repo = repo_root(args)
    names = environments(repo) if "all" in args.env else list(dict.fromkeys(args.env))
    try:
        for rendered in render_environments(repo, names):
            if args.out is None:
                sys.stdout.write(rendered.to_yaml())
            else:
                target = write_rendered(rendered, args.out)
                print(f"{rendered.environment}: {len(rendered.manifests)} objects -> {target}")
    except RenderError as exc:
        print(f"shopfloor render: {exc}", file=sys.stderr)
        return 1
    return 0


def _bump(args: argparse.Namespace) -> int:
    from shopfloor.delivery.bump import bump
    from shopfloor.delivery.git import commit, current_branch, push_with_retry
    from shopfloor.delivery.image_files import DeliveryError

    repo = repo_root(args)
    try:
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
    except DeliveryError as exc:
        raise CommandError(str(exc)) from None
    return 0


def _promote(args: argparse.Namespace) -> int:
    from shopfloor.delivery.image_files import DeliveryError
    from shopfloor.delivery.promote import format_command, plan_promotion, promote

    repo = repo_root(args)
    try:
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
    except DeliveryError as exc:
        raise CommandError(str(exc)) from None
    print(promotion.message, end="")
    print(f"committed {promotion.commit[:12]} on the new branch {promotion.branch}")
    if promotion.pr_opened:
        print("opened a pull request with gh")
    else:
        print("gh is not installed; push the branch and open the pull request with:")
        print(f"  git push --set-upstream origin {promotion.branch}")
        print(f"  {format_command(promotion.pr_command)}")
    return 0


def _smoke(args: argparse.Namespace) -> int:
    return smoke_check.run_smoke(args)


def _changed(args: argparse.Namespace) -> int:
    from shopfloor.delivery.changed import changed_images
    from shopfloor.delivery.images import ImagesError

    try:
        specs = changed_images(repo_root(args), args.base, args.head)
        names = [spec.name for spec in specs]
        print(json.dumps(names))
        if args.github_output:
            output = os.environ.get("GITHUB_OUTPUT")
            if not output:
                raise CommandError("--github-output: GITHUB_OUTPUT is not set")
            matrix = [spec.matrix_entry() for spec in specs]
            with open(output, "a", encoding="utf-8") as stream:
                stream.write(f"images={json.dumps(names)}\nmatrix={json.dumps(matrix)}\n")
                stream.write(f"any={'true' if names else 'false'}\n")
    except ImagesError as exc:
        raise CommandError(str(exc)) from None
    return 0


def _images(args: argparse.Namespace) -> int:
    from shopfloor.delivery.images import BuildOptions, ImagesError, build_images, write_report

    repo = repo_root(args)
    options = BuildOptions(
        repo=repo,
        images=args.images,
        engine=args.engine,
        repository_prefix=args.repository_prefix.rstrip("/"),
        tag=args.tag,
        revision=args.revision,
        source=args.source,
        base_image=args.base_image,
        local_base=args.local_base,
        push=args.push,
        sbom_dir=args.sbom_dir,
    )
    try:
        built = build_images(options, say=lambda line: print(line, flush=True))
    except ImagesError as exc:
        raise CommandError(str(exc)) from None
    if args.report:
        write_report(built, args.report)
    return 0
