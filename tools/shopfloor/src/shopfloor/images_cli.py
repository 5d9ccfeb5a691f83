"""The `images` and `changed` subcommands (arguments and output; the work is in images.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from shopfloor.images import (
    DEFAULT_REPOSITORY_PREFIX,
    BuildOptions,
    ImagesError,
    build_images,
    changed_services,
    write_report,
)


def add_images_commands(commands: Any) -> None:
    changed = commands.add_parser(
        "changed",
        help="which service images a change touches (CI builds and bumps only these)",
        description="Print, as a JSON array, the services whose image inputs (their Dockerfile, pyproject.toml, "
        "src/ and image lock, the shared library, the build lock, .dockerignore) differ between two commits. "
        "A base of 40 zeros, as on a new branch, means every service.",
    )
    changed.add_argument("--base", required=True, help="the commit before the change (a push's `before`)")
    changed.add_argument("--head", default="HEAD", help="the commit after the change (default HEAD)")
    changed.add_argument(
        "--github-output",
        action="store_true",
        help="also append services=<json> and any=true|false to the file $GITHUB_OUTPUT names",
    )

    images = commands.add_parser("images", help="build the service container images (make images)")
    actions = images.add_subparsers(dest="images_command", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="build (and push) service images",
        description="Build apps/<service>/Dockerfile for each service (all by default) with the repository root "
        "as context, tagged <PREFIX>/<service>:<TAG>. --local-base first makes (or reuses) a Debian bookworm "
        "Python 3.11 base with debootstrap and builds on it, for machines that reach no container registry.",
    )
    build.add_argument("services", nargs="*", metavar="SERVICE", help="services to build (default: all)")
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


def run_images_command(repo: Path, args: argparse.Namespace) -> int:
    try:
        if args.command == "changed":
            return _changed(repo, args)
        options = BuildOptions(
            repo=repo,
            services=args.services,
            engine=args.engine,
            repository_prefix=args.repository_prefix.rstrip("/"),
            tag=args.tag,
            revision=args.revision,
            source=args.source,
            base_image=args.base_image,
            local_base=args.local_base,
            push=args.push,
        )
        built = build_images(options, say=lambda line: print(line, flush=True))
    except ImagesError as exc:
        print(f"shopfloor {args.command}: {exc}", file=sys.stderr)
        return 2
    if args.report:
        write_report(built, args.report)
    return 0


def _changed(repo: Path, args: argparse.Namespace) -> int:
    services = changed_services(repo, args.base, args.head)
    print(json.dumps(services))
    if args.github_output:
        output = os.environ.get("GITHUB_OUTPUT")
        if not output:
            raise ImagesError("--github-output: GITHUB_OUTPUT is not set")
        with open(output, "a", encoding="utf-8") as stream:
            stream.write(f"services={json.dumps(services)}\nany={'true' if services else 'false'}\n")
    return 0
