"""The rules the workflows follow beyond what the linters know: pinned actions, least privilege,
OIDC only, the release's scan/SBOM/provenance/concurrency, the prod gate, Dependabot and
CODEOWNERS. Every rule is also run on a deliberately broken copy, which it must refuse."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci.cikit import (
    GITHUB,
    REPO,
    WORKFLOWS,
    credential_problems,
    load_yaml,
    permission_problems,
    pin_problems,
    triggers,
)

RELEASE = GITHUB / "workflows" / "release.yml"
PROMOTE = GITHUB / "workflows" / "promote.yml"


def workflow(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(GITHUB / "workflows" / name)
    return data


def test_every_action_is_pinned_to_a_full_sha_with_its_version() -> None:
    problems = [p for path in WORKFLOWS for p in pin_problems(path.read_text(encoding="utf-8"), path.name)]
    assert problems == []


@pytest.mark.parametrize(
    "line",
    [
        "      - uses: actions/checkout@v4",
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4",
        "      - uses: actions/checkout@11bd719 # v4.2.2",
        "        uses: docker/build-push-action@main # v6.18.0",
    ],
)
def test_an_unpinned_action_is_refused(line: str) -> None:
    text = (GITHUB / "workflows" / "ci.yml").read_text(encoding="utf-8") + line + "\n"
    assert len(pin_problems(text, "broken.yml")) == 1


def test_permissions_are_empty_at_the_top_and_explicit_per_job() -> None:
    problems = [p for path in WORKFLOWS for p in permission_problems(load_yaml(path), path.name)]
    assert problems == []


def test_broad_or_missing_permissions_are_refused() -> None:
    release = workflow("release.yml")
    broken = copy.deepcopy(release)
    broken["permissions"] = "write-all"
    assert permission_problems(broken, "broken") == [
        "broken: top-level permissions must be {} (each job asks for what it needs)"
    ]

    broken = copy.deepcopy(release)
    del broken["jobs"]["bump"]["permissions"]
    assert permission_problems(broken, "broken") == ["broken bump: no explicit permissions map"]

    broken = copy.deepcopy(release)
    broken["jobs"]["changes"]["permissions"]["id-token"] = "write"
    assert permission_problems(broken, "broken") == ["broken changes: id-token: write without an OIDC login"]

    broken = copy.deepcopy(release)
    del broken["jobs"]["build"]["permissions"]["id-token"]
    assert permission_problems(broken, "broken") == ["broken build: assumes an AWS role without id-token: write"]


def test_aws_is_reached_through_oidc_and_ids_are_variables() -> None:
    problems = [p for path in WORKFLOWS for p in credential_problems(path.read_text(encoding="utf-8"), path.name)]
    assert problems == []
    roles = re.findall(r"role-to-assume: (.+)", "".join(p.read_text(encoding="utf-8") for p in WORKFLOWS))
    # The roles terraform/modules/github-oidc creates: <name_prefix>-github-push / -github-plan.
    assert set(roles) == {
        "arn:aws:iam::${{ vars.AWS_ACCOUNT_ID }}:role/shopfloor-dev-github-push",
        "arn:aws:iam::${{ vars.AWS_ACCOUNT_ID }}:role/shopfloor-${{ matrix.environment }}-github-plan",
    }
    module = (REPO / "terraform" / "modules" / "github-oidc" / "main.tf").read_text(encoding="utf-8")
    assert '"${var.name_prefix}-github-push"' in module
    assert '"${var.name_prefix}-github-plan"' in module


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("role-to-assume:", "aws-access-key-id: ${{ secrets.KEY }}\n          role-to-assume:", "static AWS keys"),
        ("${{ vars.AWS_ACCOUNT_ID }}:role/shopfloor-dev", "111122223333:role/shopfloor-dev", "instead of vars"),
        ("${{ vars.AWS_ACCOUNT_ID }}:role/shopfloor-dev", "${{ secrets.ACCOUNT }}:role/shopfloor-dev", "uses a secret"),
    ],
)
def test_static_keys_secrets_and_literal_accounts_are_refused(old: str, new: str, expected: str) -> None:
    text = RELEASE.read_text(encoding="utf-8")
    assert old in text
    problems = credential_problems(text.replace(old, new, 1), "broken")
    assert any(expected in problem for problem in problems), problems


def release_problems(release: dict[str, Any]) -> list[str]:
    """What the issue asks of the release, checked on the parsed workflow."""
    problems = []
    on = triggers(release)
    if on.get("push", {}).get("branches") != ["main"]:
        problems.append("not run on pushes to main")
    concurrency = release.get("concurrency", {})
    if not concurrency.get("group") or concurrency.get("cancel-in-progress") is not False:
        problems.append("no concurrency group that queues (never cancels) releases")
    steps = release["jobs"]["build"]["steps"]
    by_action = {str(s.get("uses", "")).split("@")[0]: s.get("with", {}) for s in steps if "uses" in s}
    trivy = by_action.get("aquasecurity/trivy-action", {})
    if not (
        trivy.get("exit-code") == "1"
        and trivy.get("ignore-unfixed") is True
        and trivy.get("severity") == "HIGH,CRITICAL"
    ):
        problems.append("Trivy does not fail on fixable HIGH/CRITICAL")
    if "github/codeql-action/upload-sarif" not in by_action:
        problems.append("no SARIF upload")
    pushes = [
        s["with"]
        for s in steps
        if str(s.get("uses", "")).startswith("docker/build-push-action@") and s["with"].get("push")
    ]
    if len(pushes) != 1 or not (pushes[0].get("sbom") is True and pushes[0].get("provenance") == "mode=max"):
        problems.append("the push has no SBOM or max provenance")
    builds = [s["with"] for s in steps if str(s.get("uses", "")).startswith("docker/build-push-action@")]
    if not all("type=gha" in b.get("cache-from", "") for b in builds):
        problems.append("a build without the layer cache")
    names = [str(s.get("uses", "")).split("@")[0] for s in steps]
    scan = names.index("aquasecurity/trivy-action") if "aquasecurity/trivy-action" in names else len(names)
    if any(
        n == "docker/build-push-action" and s["with"].get("push") for n, s in zip(names[:scan], steps, strict=False)
    ):
        problems.append("pushed before the scan")
    bump = "\n".join(str(s.get("run", "")) for s in release["jobs"]["bump"]["steps"])
    if "scripts/deploy/bump.sh --env dev" not in bump or "--push main" not in bump:
        problems.append("dev is not bumped through the CLI with --push (rebase and retry)")
    return problems


def test_the_release_scans_attests_pushes_and_bumps_in_order() -> None:
    assert release_problems(workflow("release.yml")) == []


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda r: r.pop("concurrency"), "no concurrency group that queues (never cancels) releases"),
        (
            lambda r: r["concurrency"].update({"cancel-in-progress": True}),
            "no concurrency group that queues (never cancels) releases",
        ),
        (
            lambda r: r["jobs"]["build"]["steps"][3]["with"].update({"exit-code": "0"}),
            "Trivy does not fail on fixable HIGH/CRITICAL",
        ),
        (lambda r: r["jobs"]["build"]["steps"][-3]["with"].pop("sbom"), "the push has no SBOM or max provenance"),
        (lambda r: r["jobs"]["build"]["steps"].insert(1, r["jobs"]["build"]["steps"][-3]), "pushed before the scan"),
        (
            lambda r: r["jobs"]["bump"]["steps"][-1].update({"run": "shopfloor bump --env dev --commit"}),
            "dev is not bumped through the CLI with --push (rebase and retry)",
        ),
    ],
)
def test_a_release_missing_a_guarantee_is_refused(breakage: Any, expected: str) -> None:
    release = copy.deepcopy(workflow("release.yml"))
    breakage(release)
    assert expected in release_problems(release)


def prod_gate_problems(promote: dict[str, Any]) -> list[str]:
    """Only a job in the `prod` environment (required reviewers) may promote to prod."""
    problems = []
    inputs = triggers(promote)["workflow_dispatch"]["inputs"]
    if inputs["to"].get("type") != "choice":
        problems.append("`to` is free text")
    for name, job in promote["jobs"].items():
        condition = str(job.get("if", ""))
        reaches_prod = "inputs.to == 'prod'" in condition or not re.search(r"inputs\.to == '\w+'", condition)
        if reaches_prod and job.get("environment") != "prod":
            problems.append(f"{name} can promote to prod outside the prod environment")
    if not any(job.get("environment") == "prod" for job in promote["jobs"].values()):
        problems.append("no job runs in the prod environment")
    return problems


def test_promotion_to_prod_waits_for_the_prod_environment() -> None:
    promote = workflow("promote.yml")
    assert prod_gate_problems(promote) == []
    for job in promote["jobs"].values():
        assert "scripts/deploy/promote.sh" in job["steps"][-1]["run"]


def test_a_prod_promotion_without_the_environment_is_refused() -> None:
    promote = copy.deepcopy(workflow("promote.yml"))
    del promote["jobs"]["promote-to-prod"]["environment"]
    assert "promote-to-prod can promote to prod outside the prod environment" in prod_gate_problems(promote)
    promote = copy.deepcopy(workflow("promote.yml"))
    del promote["jobs"]["promote-to-staging"]["if"]
    assert "promote-to-staging can promote to prod outside the prod environment" in prod_gate_problems(promote)


def dependabot_problems(config: dict[str, Any], dockerfiles: list[Path]) -> list[str]:
    problems = []
    updates = {u["package-ecosystem"]: u for u in config.get("updates", [])}
    if updates.get("github-actions", {}).get("directory") != "/":
        problems.append("github-actions is not updated")
    folders = {path.parent.relative_to(REPO).as_posix() for path in dockerfiles}
    wanted = {"/" if folder == "." else f"/{folder}" for folder in folders}
    docker = updates.get("docker", {})
    covered = {docker["directory"]} if "directory" in docker else set(docker.get("directories", []))
    if wanted - covered:
        problems.append(f"Dockerfiles without updates: {sorted(wanted - covered)}")
    return problems


def repository_dockerfiles() -> list[Path]:
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*Dockerfile*", "*.dockerfile"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / path for path in tracked]


def test_dependabot_keeps_actions_and_the_dockerfile_fresh() -> None:
    dockerfiles = repository_dockerfiles()
    assert dockerfiles == [REPO / "Dockerfile"]  # one Dockerfile builds every image
    assert dependabot_problems(load_yaml(GITHUB / "dependabot.yml"), dockerfiles) == []
    # A second Dockerfile somewhere that nobody added to dependabot.yml:
    assert dependabot_problems(load_yaml(GITHUB / "dependabot.yml"), [*dockerfiles, REPO / "apps/new/Dockerfile"]) == [
        "Dockerfiles without updates: ['/apps/new']"
    ]
    config = load_yaml(GITHUB / "dependabot.yml")
    config["updates"] = [u for u in config["updates"] if u["package-ecosystem"] != "github-actions"]
    assert dependabot_problems(config, dockerfiles) == ["github-actions is not updated"]


def codeowners_problems(text: str) -> list[str]:
    owners = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            path, *teams = line.split()
            owners[path] = teams
    problems = []
    for required in ("/environments/prod/", "/argocd/"):
        teams = owners.get(required, [])
        if not teams or not all(re.fullmatch(r"@[\w-]+/[\w-]+", team) for team in teams):
            problems.append(f"{required} has no owning team")
    return problems


def test_codeowners_guard_prod_and_argocd() -> None:
    text = (GITHUB / "CODEOWNERS").read_text(encoding="utf-8")
    assert codeowners_problems(text) == []
    broken = "\n".join(line for line in text.splitlines() if not line.startswith("/argocd/"))
    assert codeowners_problems(broken) == ["/argocd/ has no owning team"]


def test_workflow_files_are_plain_yaml_without_duplicate_keys(tmp_path: Path) -> None:
    class Strict(yaml.SafeLoader):
        pass

    def no_duplicates(loader: Strict, node: yaml.MappingNode) -> dict[Any, Any]:
        keys = [loader.construct_object(key) for key, _ in node.value]
        assert len(keys) == len(set(map(str, keys))), f"duplicate keys at line {node.start_mark.line + 1}"
        return loader.construct_mapping(node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, no_duplicates)
    for path in [*WORKFLOWS, GITHUB / "dependabot.yml", REPO / "ci" / "codebuild" / "buildspec.yml"]:
        yaml.load(path.read_text(encoding="utf-8"), Loader=Strict)  # noqa: S506 (a SafeLoader subclass)
    broken = tmp_path / "broken.yml"
    broken.write_text("jobs:\n  a: 1\n  a: 2\n")
    with pytest.raises(AssertionError, match="duplicate keys"):
        yaml.load(broken.read_text(), Loader=Strict)  # noqa: S506
