"""`shopfloor changed`: which service images a change touches (CI builds and bumps only these)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from shopfloor.delivery.images import git_output, image_inputs, image_services

# Where a new branch's push event says "no previous commit".
NULL_REVISION = "0" * 40


def services_touched(changed_paths: Iterable[str], services: Sequence[str]) -> list[str]:
    """The services whose image inputs include any of `changed_paths` (repository-relative)."""
    paths = list(changed_paths)
    touched = []
    for service in services:
        inputs = image_inputs(service)
        if any(_within(path, spec) for path in paths for spec in inputs):
            touched.append(service)
    return sorted(touched)


def _within(path: str, spec: str) -> bool:
    return path.startswith(spec) if spec.endswith("/") else path == spec


def changed_services(repo: Path, base: str, head: str) -> list[str]:
    """The services whose images differ between commits `base` and `head` (all of them without a base)."""
    services = image_services(repo)
    if not base.strip("0"):
        return services
    for revision in (base, head):
        git_output(
            repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", what=f"no such commit: {revision!r}"
        )
    # --no-renames: a file moved out of a service folder changes that service too.
    diff = git_output(repo, "diff", "--name-only", "--no-renames", base, head, what="git diff failed")
    return services_touched(diff.splitlines(), services)
