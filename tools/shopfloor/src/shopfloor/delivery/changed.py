"""`shopfloor changed`: which images a change touches (CI builds and bumps only these)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from shopfloor.delivery.images import ImageSpec, git_output, image_inputs, image_specs

# Where a new branch's push event says "no previous commit".
NULL_REVISION = "0" * 40


def images_touched(changed_paths: Iterable[str], inputs: Mapping[str, Sequence[str]]) -> list[str]:
    """The images (keys of `inputs`, each with its input paths) that any of `changed_paths` is part of."""
    paths = list(changed_paths)
    return sorted(name for name, specs in inputs.items() if any(_within(p, s) for p in paths for s in specs))


def _within(path: str, spec: str) -> bool:
    return path == spec or path.startswith(spec + "/")


def changed_images(repo: Path, base: str, head: str) -> list[ImageSpec]:
    """The images that differ between commits `base` and `head` (all of them without a base)."""
    specs = image_specs(repo)
    if not base.strip("0"):
        return specs
    for revision in (base, head):
        git_output(
            repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", what=f"no such commit: {revision!r}"
        )
    # --no-renames: a file moved out of a service folder changes that service too.
    diff = git_output(repo, "diff", "--name-only", "--no-renames", base, head, what="git diff failed")
    touched = images_touched(diff.splitlines(), {spec.name: image_inputs(repo, spec) for spec in specs})
    return [spec for spec in specs if spec.name in touched]
