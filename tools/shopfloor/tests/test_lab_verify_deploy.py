"""`shopfloor lab verify`'s deploy check on a real git deploy repository (issue 19: the mutation run
found no test of lab verification, so a check passing any version left every test green).

The error-release lab is solved by reverting the bad api-gateway release; its verify section asks
the deployed HEAD for VERSION 1.0.0. These tests build such a repository with git and check the
verdict before the fix, after it, and while the fix is not synced yet.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from shopfloor.labs.checks import check_deploy

REPO = Path(__file__).resolve().parents[3]


def git(repo: Path, *args: str) -> str:
    identity = ("-c", "user.name=lab", "-c", "user.email=lab@localhost")
    return subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True, text=True).stdout


def commit(repo: Path, text: str, message: str) -> str:
    (repo / "api-gateway.env").write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()


def wanted_by_the_lab() -> dict[str, Any]:
    lab = yaml.safe_load((REPO / "labs" / "error-release" / "lab.yaml").read_text())
    deploy: dict[str, Any] = lab["verify"]["deploy"]
    return deploy


def verdicts(state: dict[str, Any], wanted: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    return {check.name: (check.ok, check.message) for check in check_deploy(state, wanted)}


def test_the_bad_release_fails_verify_and_its_revert_passes(tmp_path: Path) -> None:
    repo = tmp_path / "deploy"
    repo.mkdir()
    git(repo, "init", "-q")
    commit(repo, "VERSION=1.0.0\n", "api-gateway 1.0.0")
    released = commit(repo, "VERSION=1.1.0\nJSON_FAST=1\n", "api-gateway: release 1.1.0")
    wanted = wanted_by_the_lab()
    assert wanted == {"api-gateway": {"VERSION": "1.0.0"}}

    before = verdicts({"deploy_repo": str(repo), "deployed": released}, wanted)
    assert before == {"deployed": (True, "HEAD is deployed"), "api-gateway: VERSION": (False, "is 1.1.0, want 1.0.0")}

    git(repo, "revert", "--no-edit", "HEAD")
    reverted = git(repo, "rev-parse", "HEAD").strip()
    # Reverted in git but not synced to the shop yet: not solved.
    pending = verdicts({"deploy_repo": str(repo), "deployed": released}, wanted)
    assert pending["deployed"] == (False, "HEAD is not deployed yet: wait a second")
    after = verdicts({"deploy_repo": str(repo), "deployed": reverted}, wanted)
    assert after == {"deployed": (True, "HEAD is deployed"), "api-gateway: VERSION": (True, "is 1.0.0, want 1.0.0")}


def test_not_set_and_at_least_are_checked(tmp_path: Path) -> None:
    repo = tmp_path / "deploy"
    repo.mkdir()
    git(repo, "init", "-q")
    head = commit(repo, "VERSION=1.1.0\nJSON_FAST=1\nUPSTREAM_MAX_ATTEMPTS=2\n", "release")
    state = {"deploy_repo": str(repo), "deployed": head}

    found = verdicts(state, {"api-gateway": {"JSON_FAST": None, "UPSTREAM_MAX_ATTEMPTS": ">=3", "NEW": None}})
    assert found["api-gateway: JSON_FAST"] == (False, "is 1, want not set")
    assert found["api-gateway: UPSTREAM_MAX_ATTEMPTS"] == (False, "is 2, want at least 3")
    assert found["api-gateway: NEW"] == (True, "is not set, want not set")
    assert verdicts(state, {"api-gateway": {"UPSTREAM_MAX_ATTEMPTS": ">=2"}})["api-gateway: UPSTREAM_MAX_ATTEMPTS"][0]
