"""`shopfloor promote`: copy image files to the next environment on a new branch and open a pull request."""

from __future__ import annotations

import difflib
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shopfloor.delivery import PROMOTION_ORDER
from shopfloor.delivery.git import commit, current_branch, git
from shopfloor.delivery.image_files import DeliveryError, ImageRef, image_path, images_with_files, read_image


def next_environment(source: str, target: str) -> None:
    if source not in PROMOTION_ORDER or target not in PROMOTION_ORDER:
        raise DeliveryError(f"promotions go {' -> '.join(PROMOTION_ORDER)}; got {source} -> {target}")
    position = PROMOTION_ORDER.index(source)
    if PROMOTION_ORDER.index(target) != position + 1:
        wanted = PROMOTION_ORDER[position + 1] if position + 1 < len(PROMOTION_ORDER) else None
        if wanted is None:
            raise DeliveryError(f"{source} is the last environment: there is nothing to promote it to")
        hint = " (promote to staging first; prod only takes what staging runs)" if target == "prod" else ""
        raise DeliveryError(f"refusing to promote {source} -> {target}: the next environment is {wanted}{hint}")


@dataclass(frozen=True)
class Change:
    service: str
    source_path: Path
    target_path: Path
    old: ImageRef
    new: ImageRef
    old_text: str
    new_text: str

    def diff(self, repo: Path) -> list[str]:
        name = str(self.target_path.relative_to(repo))
        lines = difflib.unified_diff(
            self.old_text.splitlines(), self.new_text.splitlines(), f"a/{name}", f"b/{name}", n=0, lineterm=""
        )
        return [line for line in lines if not line.startswith("@@")]


def _committed_text(repo: Path, ref: str, path: Path) -> str | None:
    shown = git(repo, "show", f"{ref}:{path.relative_to(repo).as_posix()}", check=False)
    return shown.stdout if shown.returncode == 0 else None


def plan_promotion(
    repo: Path,
    source: str,
    target: str,
    services: Sequence[str] | None,
    *,
    deployed_ref: str = "HEAD",
    expect_tag: str | None = None,
) -> list[Change]:
    """What a promotion would change; refuses anything the source environment does not run.

    "Runs" means: the source's image file is the one at `deployed_ref` (the revision Argo CD
    syncs; a file edited but not merged there is not running yet). For prod the source is
    staging, so prod only ever receives what staging runs."""
    next_environment(source, target)
    available = images_with_files(repo, source)
    chosen = list(services) if services else available
    unknown = [s for s in chosen if s not in available]
    if unknown:
        raise DeliveryError(f"{source} has no image file for {', '.join(unknown)} (it has: {', '.join(available)})")
    changes = []
    for service in chosen:
        source_path = image_path(repo, source, service)
        target_path = image_path(repo, target, service)
        source_text = source_path.read_text(encoding="utf-8")
        image = read_image(source_path)
        deployed = _committed_text(repo, deployed_ref, source_path)
        if deployed != source_text:
            state = "is not committed" if deployed is None else f"differs from {deployed_ref}"
            raise DeliveryError(
                f"refusing to promote {service} {image.short} to {target}: {source} does not run it "
                f"({source_path.relative_to(repo)} {state}; {source} runs what is at {deployed_ref})"
            )
        if expect_tag is not None and image.tag != expect_tag:
            raise DeliveryError(
                f"refusing to promote {service}:{expect_tag} to {target}: {source} does not run it "
                f"({source} runs {service}:{image.short})"
            )
        if not target_path.parent.is_dir():
            raise DeliveryError(f"{target} does not deploy {service} (no {target_path.parent.relative_to(repo)}/)")
        old_text = target_path.read_text(encoding="utf-8") if target_path.is_file() else ""
        old = read_image(target_path) if old_text else ImageRef("", "", "")
        if old_text != source_text:
            changes.append(Change(service, source_path, target_path, old, image, old_text, source_text))
    return changes


def commit_message(source: str, target: str, changes: Sequence[Change]) -> str:
    services = ", ".join(change.service for change in changes)
    lines = [f"Promote {source} -> {target}: {services}", ""]
    lines += [f"- {c.service}: {c.old.short or '(none)'} -> {c.new.short}" for c in changes]
    lines += ["", f"Copied from each image's file under environments/{source}/ by `shopfloor promote`."]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Promotion:
    branch: str
    commit: str
    message: str
    pr_command: list[str]
    pr_opened: bool


def promote(repo: Path, source: str, target: str, changes: Sequence[Change], *, base: str | None = None) -> Promotion:
    """Write the files on a new branch, commit once, open a PR with gh when it is installed."""
    if not changes:
        raise DeliveryError(f"nothing to promote: {target} already runs what {source} runs")
    base = base or current_branch(repo)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    branch = f"promote/{source}-to-{target}/{stamp}-{'-'.join(c.service for c in changes)}"[:200]
    git(repo, "switch", "--quiet", "-c", branch)
    for change in changes:
        change.target_path.write_text(change.new_text, encoding="utf-8")
    message = commit_message(source, target, changes)
    sha = commit(repo, [c.target_path for c in changes], message)
    title = message.splitlines()[0]
    body = "\n".join(message.splitlines()[2:])
    pr_command = ["gh", "pr", "create", "--base", base, "--head", branch, "--title", title, "--body", body]
    opened = False
    if shutil.which("gh"):
        git(repo, "push", "--quiet", "--set-upstream", "origin", branch)
        result = subprocess.run(pr_command, cwd=repo, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise DeliveryError(f"gh pr create failed: {result.stderr.strip()}")
        opened = True
    return Promotion(branch, sha, message, pr_command, opened)


def format_command(command: Sequence[str]) -> str:
    return shlex.join(command)
