"""Issue 16 item 5: the image scan gate of `make images` and its dated ignore list. No scanner runs
here (Trivy and Grype are not installed on these machines, and Trivy's database is published on a
container registry they cannot reach): what is tested is the policy (the same flags and the same
ignore list as the release workflow and CodeBuild), the ignore list's rules, and that without a
scanner `make images` says so (and fails only with --require). The SBOM each image carries is
checked against its lock instead: test_cli_security_sbom.py and tests/images."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from shopfloor.repo import find_repo_root
from shopfloor.security.scan import (
    IGNORE_FILE,
    ignore_problems,
    images_from_report,
    images_pinned,
    scan_command,
    scan_images,
)

REPO = find_repo_root(Path(__file__).parent)
TODAY = dt.date(2026, 11, 30)


def test_the_committed_ignore_list_follows_its_rules() -> None:
    text = (REPO / IGNORE_FILE).read_text()
    assert ignore_problems(text, dt.date.today(), images_pinned(REPO)) == []


def test_the_example_in_the_ignore_lists_header_follows_the_rules() -> None:
    """The header shows how an entry looks; that example, uncommented, must pass as of its writing."""
    text = (REPO / IGNORE_FILE).read_text()
    example = "\n".join(line[2:] for line in text.splitlines() if line.startswith("#   ") or line == "#")
    example = example[example.index("vulnerabilities:") :]
    entries = yaml.safe_load(example)["vulnerabilities"]
    assert len(entries) == 1
    assert ignore_problems(example, TODAY, images_pinned(REPO)) == []


OK = {"id": "CVE-2026-12345", "purls": ["pkg:pypi/jinja2"], "statement": "not reachable"}


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({**OK, "expired_at": dt.date(2027, 1, 15)}, None),
        ({**OK, "purls": ["pkg:deb/debian/libssl3@3.0.15-1~deb12u1"], "expired_at": dt.date(2027, 1, 15)}, None),
        ({**OK, "expired_at": dt.date(2026, 11, 1)}, "expired on 2026-11-01"),
        ({**OK, "expired_at": dt.date(2027, 11, 1)}, "more than 90 days ahead"),
        ({**OK, "statement": " ", "expired_at": dt.date(2027, 1, 15)}, "no statement"),
        ({**OK, "id": "HIGH-1", "expired_at": dt.date(2027, 1, 15)}, "is not a CVE or GHSA id"),
        ({**OK, "id": "GHSA-h4j5-c7cj-74xg", "expired_at": "soon"}, "expired_at is not a date"),
        ({**OK, "purls": [], "expired_at": dt.date(2027, 1, 15)}, "no purls naming the package"),
        ({**OK, "purls": ["jinja2"], "expired_at": dt.date(2027, 1, 15)}, "is not a package URL"),
        ({**OK, "purls": ["pkg:pypi/leftpad"], "expired_at": dt.date(2027, 1, 15)}, "no image's lock pins any more"),
    ],
    ids=["ok", "ok-deb", "expired", "too-far", "no-reason", "bad-id", "no-date", "no-package", "bad-purl", "stale"],
)
def test_an_ignore_entry_is_checked(entry: dict[str, object], problem: str | None) -> None:
    text = yaml.safe_dump({"vulnerabilities": [entry]})
    found = ignore_problems(text, TODAY, images_pinned(REPO))
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1, found
        assert problem in found[0]


def test_the_pinned_packages_are_the_service_images_locks() -> None:
    pinned = images_pinned(REPO)
    assert {"fastapi", "jinja2", "sqlalchemy"} <= pinned
    # The build tools never reach an image's runtime: an exception for them would be stale.
    assert "cyclonedx-bom" not in pinned
    assert "hatchling" not in pinned


def test_make_images_scans_with_the_release_workflows_policy() -> None:
    command = scan_command("trivy", "shopfloor/catalog:dev", REPO)
    assert command[command.index("--severity") + 1] == "HIGH,CRITICAL"
    assert "--ignore-unfixed" in command
    assert command[command.index("--exit-code") + 1] == "1"
    assert command[command.index("--ignorefile") + 1] == str(REPO / IGNORE_FILE)
    release = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    steps = [s for job in release["jobs"].values() for s in job.get("steps", [])]
    [scan] = [s for s in steps if str(s.get("uses", "")).startswith("aquasecurity/trivy-action")]
    assert scan["with"]["severity"] == "HIGH,CRITICAL"
    assert scan["with"]["ignore-unfixed"] is True
    assert scan["with"]["exit-code"] == "1"
    assert scan["with"]["trivyignores"] == IGNORE_FILE
    assert "shopfloor security scan-images --report var/images.json" in (REPO / "Makefile").read_text()


def test_codebuild_scans_with_the_same_policy_and_ignore_list() -> None:
    """The one ignore list: CodeBuild's Trivy run mounts it and passes --ignorefile like make images."""
    spec = yaml.safe_load((REPO / "ci" / "codebuild" / "buildspec.yml").read_text())
    blocks = [command for phase in spec["phases"].values() for command in phase.get("commands", [])]
    [scan] = [block for block in blocks if "--exit-code 1" in block]
    command = " ".join(scan.replace("\\\n", " ").split())
    assert '-v "$PWD/.trivyignore.yaml:/policy/.trivyignore.yaml:ro"' in command
    for flag in (
        "--exit-code 1",
        "--ignore-unfixed",
        "--severity HIGH,CRITICAL",
        "--ignorefile /policy/.trivyignore.yaml",
    ):
        assert flag in command, flag


def test_without_a_scanner_it_says_so_and_fails_only_when_required(tmp_path: Path) -> None:
    said: list[str] = []
    assert scan_images(REPO, ["shopfloor/catalog:dev"], require=False, say=said.append, which=lambda _: None) == 0
    assert "Trivy is not on the PATH" in said[0]
    assert scan_images(REPO, ["shopfloor/catalog:dev"], require=True, say=said.append, which=lambda _: None) == 1


def test_the_images_report_is_read_or_named(tmp_path: Path) -> None:
    report = tmp_path / "images.json"
    report.write_text(json.dumps([{"name": "catalog", "image": "shopfloor/catalog:dev", "digest": None}]))
    assert images_from_report(report) == ["shopfloor/catalog:dev"]
    report.write_text("{}")
    with pytest.raises(ValueError, match="not the images report"):
        images_from_report(report)
