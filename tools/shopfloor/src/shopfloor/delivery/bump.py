"""Delivery commands: `shopfloor bump` and `shopfloor promote`, the only writers of image files.

An environment runs what its `environments/<env>/<service>/image.yaml` says on the branch Argo CD
follows (GitOps: git is the deployed state). CI's release job bumps `dev`; a promotion copies the
files to the next environment, dev -> staging -> prod, on a new branch and a pull request; a
rollback reverts that commit (runbooks/rollback.md).

Edits are round-trips through ruamel.yaml, so comments, key order and quoting survive, and an edit
that changes nothing writes nothing. Pushes are race-safe: a rejected push (someone else landed
first) is followed by fetch, rebase and another push, so two bumps of different services both land.
"""

from __future__ import annotations

import difflib
import io
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

PROMOTION_ORDER = ("dev", "staging", "prod")
IMAGE_FILE = "image.yaml"
# Docker's own grammar for a tag (distribution/reference): 1-128 characters, no leading . or -.
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
PUSH_ATTEMPTS = 5


class DeliveryError(Exception):
    """Refused or failed; the message says why and is printed as is (exit 2)."""


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str
    digest: str

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}" + (f"@{self.digest}" if self.digest else "")

    @property
    def short(self) -> str:
        return self.tag + (f"@{self.digest[:19]}" if self.digest else "")


def _yaml() -> YAML:
    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def image_path(repo: Path, environment: str, service: str) -> Path:
    return repo / "environments" / environment / service / IMAGE_FILE


def _load(path: Path) -> Any:
    if not path.is_file():
        raise DeliveryError(f"{path}: no image file (is the service deployed in that environment?)")
    document = _yaml().load(path.read_text(encoding="utf-8"))
    image = document.get("image") if hasattr(document, "get") else None
    if not hasattr(image, "get"):
        raise DeliveryError(f"{path}: expected a mapping `image: {{repository, tag, digest}}`")
    return document


def read_image(path: Path) -> ImageRef:
    image = _load(path)["image"]
    return ImageRef(str(image.get("repository", "")), str(image.get("tag", "")), str(image.get("digest", "") or ""))


def validate_tag(tag: str) -> None:
    if not TAG.fullmatch(tag):
        raise DeliveryError(f"malformed tag {tag!r}: a tag is 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'")


def validate_digest(digest: str) -> None:
    if not DIGEST.fullmatch(digest):
        raise DeliveryError(f"malformed digest {digest!r}: expected sha256: and 64 lowercase hex digits")


def _same_style(old: object, new: str) -> str:
    # Keep the file's quoting: a tag like 0.1.0 or 1e3 must stay a string in YAML.
    styled: str = type(old)(new) if isinstance(old, ScalarString) else DoubleQuotedScalarString(new)
    return styled


@dataclass(frozen=True)
class Bump:
    path: Path
    old: ImageRef
    new: ImageRef

    @property
    def changed(self) -> bool:
        return self.old != self.new


def bump(repo: Path, environment: str, service: str, tag: str, digest: str | None = None) -> Bump:
    """Set the tag (and digest; a new tag without one clears the old digest, which pinned the old image)."""
    validate_tag(tag)
    if digest:
        validate_digest(digest)
    path = image_path(repo, environment, service)
    document = _load(path)
    image = document["image"]
    old = ImageRef(str(image.get("repository", "")), str(image.get("tag", "")), str(image.get("digest", "") or ""))
    new = ImageRef(old.repository, tag, digest or "")
    if new != old:
        image["tag"] = _same_style(image.get("tag"), tag)
        image["digest"] = _same_style(image.get("digest"), digest or "")
        buffer = io.StringIO()
        _yaml().dump(document, buffer)
        path.write_text(buffer.getvalue(), encoding="utf-8")
    return Bump(path, old, new)


# ---------------------------------------------------------------------------------------------
# git


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 (argument list, no shell)
        ["git", *args],  # noqa: S607 (git from PATH, as a person would run it)
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise DeliveryError(f"git {' '.join(args)} failed: {(result.stderr or result.stdout).strip()}")
    return result


def current_branch(repo: Path) -> str:
    return git(repo, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()


def commit(repo: Path, paths: Sequence[Path], message: str) -> str:
    git(repo, "add", "--", *(str(p.relative_to(repo)) for p in paths))
    git(repo, "commit", "--quiet", "-m", message, "--", *(str(p.relative_to(repo)) for p in paths))
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def push_with_retry(repo: Path, branch: str, *, remote: str = "origin", attempts: int = PUSH_ATTEMPTS) -> int:
    """Push HEAD to `branch`; when rejected because the branch moved, rebase onto it and push again.

    Returns how many pushes it took. Commits touching different files rebase cleanly; a real
    conflict (two bumps of the same service) is refused rather than resolved by overwriting."""
    for attempt in range(1, attempts + 1):
        pushed = git(repo, "push", "--quiet", remote, f"HEAD:refs/heads/{branch}", check=False)
        if pushed.returncode == 0:
            return attempt
        if "rejected" not in pushed.stderr and "fetch first" not in pushed.stderr:
            raise DeliveryError(f"git push failed: {pushed.stderr.strip()}")
        git(repo, "fetch", "--quiet", remote, branch)
        rebased = git(repo, "rebase", "--quiet", f"{remote}/{branch}", check=False)
        if rebased.returncode != 0:
            git(repo, "rebase", "--abort", check=False)
            raise DeliveryError(
                f"{branch} moved and this change conflicts with it (the same image file changed): "
                f"fetch, look, and bump again\n{rebased.stdout.strip()} {rebased.stderr.strip()}".strip()
            )
        time.sleep(0.05 * attempt)  # back off a little so two racers do not keep colliding
    raise DeliveryError(f"gave up pushing to {remote}/{branch} after {attempts} rejected attempts")


# ---------------------------------------------------------------------------------------------
# promotion


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


def promotable_services(repo: Path, source: str) -> list[str]:
    folder = repo / "environments" / source
    return sorted(p.parent.name for p in folder.glob(f"*/{IMAGE_FILE}"))


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
    available = promotable_services(repo, source)
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
    lines += ["", f"Copied from environments/{source}/<service>/{IMAGE_FILE} by `shopfloor promote`."]
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
