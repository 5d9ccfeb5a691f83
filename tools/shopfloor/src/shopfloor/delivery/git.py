"""git as the delivery commands use it: commit an image file, push it without losing a race.

Pushes are race-safe: a rejected push (someone else landed first) is followed by fetch, rebase and
another push, so two bumps of different services both land.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from shopfloor.delivery.image_files import DeliveryError

PUSH_ATTEMPTS = 5


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
