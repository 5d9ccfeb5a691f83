"""The `offline:` mapping of lab.yaml (shopfloor/labs/offline.py): every lab's is valid, and a bad
one is refused with a sentence naming the key and what is wrong; a patch that does not apply, a
missing workspace and a missing tool are refused the same way."""

from __future__ import annotations

import difflib
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfloor.incidents.knowledge import alerts
from shopfloor.labs import offline
from tests.labs.offlinekit import LABS, REPO, lab_documents

GOOD: dict[str, Any] = {"break": "break.patch", "solution": "solution.patch", "verify": ["true"]}


def test_at_least_eight_offline_labs_kubernetes_and_aws() -> None:
    documents = lab_documents()
    assert len(documents) >= 8, sorted(documents)
    assert {document["layer"] for document in documents.values()} == {"kubernetes", "aws"}


@pytest.mark.parametrize("lab", sorted(lab_documents()))
def test_every_offline_lab_is_valid(lab: str) -> None:
    document = lab_documents()[lab]
    assert document["id"] == lab
    assert offline.validate_section(document["offline"], LABS / lab) == []


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        (None, "offline: must be a mapping with break, solution, verify, got NoneType"),
        ({**GOOD, "verfy": ["true"]}, "offline: unknown key 'verfy'"),
        ({"break": "break.patch", "verify": ["true"]}, "offline: solution is missing"),
        ({**GOOD, "break": "../other/break.patch"}, "offline: break must be a file inside the lab folder"),
        ({**GOOD, "break": 3}, "offline: break must be the name of a patch file in the lab folder, got 3"),
        ({**GOOD, "verify": "make test"}, "offline: verify must be a non-empty list of shell commands"),
        ({**GOOD, "verify": []}, "offline: verify must be a non-empty list of shell commands"),
        ({**GOOD, "timeout": 0}, "offline: timeout must be seconds between 0 and 3600"),
        ({**GOOD, "timeout": True}, "offline: timeout must be seconds between 0 and 3600"),
        ({**GOOD, "paths": ["/etc"]}, "offline: paths must be a non-empty list of folders or files"),
        ({**GOOD, "expect": ""}, "offline: expect must be text the failing verification prints"),
    ],
)
def test_a_bad_section_is_refused_clearly(section: Any, problem: str) -> None:
    problems = offline.validate_section(section)
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems


def test_a_patch_file_that_is_not_there_is_named(tmp_path: Path) -> None:
    assert offline.validate_section(GOOD, tmp_path) == [
        f"offline: break names break.patch, which is not a file in {tmp_path}",
        f"offline: solution names solution.patch, which is not a file in {tmp_path}",
    ]


def _lab(tmp_path: Path, patch: str) -> Path:
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "break.patch").write_text(patch)
    (lab / "solution.patch").write_text(patch)
    return lab


def test_a_patch_that_does_not_apply_is_refused_naming_the_file(tmp_path: Path) -> None:
    lab = _lab(
        tmp_path,
        "--- a/README.md\n+++ b/README.md\n@@ -1,1 +1,1 @@\n-this line is not in the README\n+broken\n",
    )
    with pytest.raises(offline.OfflineLabError, match=r"the break patch break.patch does not apply .*README.md"):
        offline.prepare(REPO, lab, {**GOOD, "paths": ["README.md"]}, tmp_path / "workspace")


def test_prepare_copies_only_tracked_files_and_breaks_the_copy(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text().splitlines(keepends=True)
    first = readme[0].rstrip("\n")
    patch = difflib.unified_diff(readme, ["# broken\n", *readme[1:]], "a/README.md", "b/README.md")
    lab = _lab(tmp_path, "".join(patch))
    workspace = tmp_path / "workspace"
    offline.prepare(REPO, lab, {**GOOD, "paths": ["README.md", "Makefile"]}, workspace)
    assert sorted(p.name for p in workspace.iterdir()) == ["Makefile", "README.md"]
    assert (workspace / "README.md").read_text().splitlines()[0] == "# broken"
    assert (REPO / "README.md").read_text().splitlines()[0] == first  # the checkout is untouched
    check = offline.verify(lab, {**GOOD, "verify": ["grep -q '^# broken' README.md", "false", "echo never"]}, workspace)
    assert not check.ok
    assert check.output.splitlines() == ["$ grep -q '^# broken' README.md", "", "$ false", "", "(exit 1)"]


def test_a_terraform_lab_gets_the_offline_cli_configuration_at_start(
    tmp_path: Path, missing_dependency: Callable[[str, str], None]
) -> None:
    mirror = offline.find_provider_mirror()
    if mirror is None:
        missing_dependency("a Terraform provider mirror with hashicorp/aws", "set TERRAFORM_PROVIDER_MIRROR")
    readme = (REPO / "README.md").read_text().splitlines(keepends=True)
    lab = _lab(
        tmp_path, "".join(difflib.unified_diff(readme, ["# broken\n", *readme[1:]], "a/README.md", "b/README.md"))
    )
    workspace = tmp_path / "workspace"
    section = {**GOOD, "paths": ["README.md"], "verify": ["terraform version"]}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(offline.PLUGIN_CACHE_VARIABLE, str(tmp_path / "cache"))
        offline.prepare(REPO, lab, section, workspace)
    config = (workspace / offline.TERRAFORM_CONFIG).read_text()
    assert f'path    = "{mirror}"' in config
    assert f'plugin_cache_dir = "{(tmp_path / "cache").resolve()}"' in config
    offline.prepare(REPO, lab, {**section, "verify": ["true"]}, workspace)
    assert not (workspace / offline.TERRAFORM_CONFIG).exists()  # only where terraform runs


def test_a_workspace_inside_a_checkout_is_broken_too(tmp_path: Path) -> None:
    """`shopfloor lab start` puts the workspace under var/labs/ of the checkout: git must still apply
    the patch to the workspace's files (not skip them as outside the checkout's root)."""
    readme = (REPO / "README.md").read_text().splitlines(keepends=True)
    lab = _lab(
        tmp_path, "".join(difflib.unified_diff(readme, ["# broken\n", *readme[1:]], "a/README.md", "b/README.md"))
    )
    reverse = difflib.unified_diff(["# broken\n", *readme[1:]], readme, "a/README.md", "b/README.md")
    (lab / "solution.patch").write_text("".join(reverse))
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    workspace = checkout / "var" / "labs" / "some-lab" / "workspace"
    offline.prepare(REPO, lab, {**GOOD, "paths": ["README.md"]}, workspace)
    assert (workspace / "README.md").read_text().splitlines()[0] == "# broken"
    offline.apply_solution(lab, {**GOOD, "paths": ["README.md"]}, workspace)
    assert (workspace / "README.md").read_text() == "".join(readme)


def test_the_workspace_may_not_be_the_repository(tmp_path: Path) -> None:
    lab = _lab(tmp_path, "")
    with pytest.raises(offline.OfflineLabError, match="would overwrite the repository"):
        offline.prepare(REPO, lab, GOOD, REPO)


def test_verify_without_a_workspace_says_to_start_the_lab(tmp_path: Path) -> None:
    lab = _lab(tmp_path, "")
    with pytest.raises(offline.OfflineLabError, match="start the lab first"):
        offline.verify(lab, GOOD, tmp_path / "nowhere")


def test_a_missing_tool_is_named_with_how_to_install_it(tmp_path: Path) -> None:
    lab = _lab(tmp_path, "")
    (tmp_path / "workspace").mkdir()
    with pytest.raises(offline.MissingTool, match=r"needs no-such-tool-xyz, not found on PATH"):
        offline.verify(lab, {**GOOD, "verify": ["no-such-tool-xyz --version"]}, tmp_path / "workspace")


@pytest.mark.parametrize("lab", sorted(lab_documents()))
def test_the_readme_shows_the_commands_the_lab_runs(lab: str) -> None:
    """The README cannot drift from lab.yaml: it shows each verification command verbatim in a
    shell block, the lab's lesson, and marks what needs a cluster or an account."""
    document = lab_documents()[lab]
    readme = (LABS / lab / "README.md").read_text(encoding="utf-8")
    blocks = "\n".join(re.findall(r"```sh\n(.*?)```", readme, re.DOTALL))
    for command in document["offline"]["verify"]:
        assert command in blocks, f"{lab}: README.md does not show `{command}`"
    assert " ".join(document["offline"]["expect"].split()) in " ".join(readme.split()), lab
    for part in ("## Story", "## Objectives", "## Steps", f"shopfloor lab start {lab}", f"shopfloor lab verify {lab}"):
        assert part in readme, f"{lab}: README.md lacks {part}"
    tier = "kind" if document["layer"] == "kubernetes" else "aws"
    assert f"<!-- needs: {tier} -->" in readme, lab
    assert readme.count("<!-- needs: ") == readme.count("<!-- /needs -->"), lab


CAUSES = {
    "manifest-probe",
    "network-policy",
    "missing-secret",
    "resource-limits",
    "security-group",
    "iam-permission",
    "subnet-tags",
    "availability",
}


@pytest.mark.parametrize("lab", sorted(lab_documents()))
def test_what_the_lab_names_exists(lab: str) -> None:
    document = lab_documents()[lab]
    faults = {f["id"] for f in yaml.safe_load((REPO / "chaos" / "faults.yaml").read_text())["faults"]}
    assert set(document["faults"]) <= faults, set(document["faults"]) - faults
    rules = {alert.name for alert in alerts(REPO)}
    assert set(document["alerts"]) <= rules, set(document["alerts"]) - rules
    for runbook in document["runbooks"]:
        assert (REPO / runbook).is_file(), runbook
    truth = document["ground_truth"]
    assert truth["layer"] == document["layer"]
    assert truth["cause"] in CAUSES, truth["cause"]
    assert document["level"] in {"basic", "intermediate", "advanced"}
    costs = [hint["cost"] for hint in document["hints"]]
    assert costs == sorted(costs), "hints are progressive: each costs more than the one before"
    assert all(cost > 0 for cost in costs)
    assert document["solution"]["steps"]
