"""Issue 16 item 5: the image scan gate of `make images` and its dated ignore list. No scanner runs
here (Trivy and Grype are not installed on these machines, and Trivy's database is published on a
container registry they cannot reach): what is tested is the policy (the same flags as the release
workflow), the ignore list's rules, and that without a scanner `make images` says so (and fails
only with --require)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from shopfloor.repo import find_repo_root
from shopfloor.security.scan import IGNORE_FILE, ignore_problems, images_from_report, scan_command, scan_images

REPO = find_repo_root(Path(__file__).parent)
TODAY = dt.date(2026, 11, 30)


def test_the_committed_ignore_list_follows_its_rules() -> None:
    assert ignore_problems((REPO / IGNORE_FILE).read_text(), dt.date.today()) == []


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"id": "CVE-2026-12345", "statement": "not reachable", "expired_at": dt.date(2027, 1, 15)}, None),
        (
            {"id": "CVE-2026-12345", "statement": "not reachable", "expired_at": dt.date(2026, 11, 1)},
            "expired on 2026-11-01",
        ),
        ({"id": "CVE-2026-12345", "statement": "later", "expired_at": dt.date(2027, 11, 1)}, "more than 90 days ahead"),
        ({"id": "CVE-2026-12345", "expired_at": dt.date(2027, 1, 15)}, "no statement"),
        ({"id": "HIGH-1", "statement": "x", "expired_at": dt.date(2027, 1, 15)}, "is not a CVE or GHSA id"),
        ({"id": "GHSA-h4j5-c7cj-74xg", "statement": "x", "expired_at": "soon"}, "expired_at is not a date"),
    ],
    ids=["ok", "expired", "too-far", "no-reason", "bad-id", "no-date"],
)
def test_an_ignore_entry_is_checked(entry: dict[str, object], problem: str | None) -> None:
    text = (
        yaml.safe_dump({"vulnerabilities": [entry]}).replace("'20", "20").replace("-15'", "-15").replace("-01'", "-01")
    )
    found = ignore_problems(text, TODAY)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1
        assert problem in found[0]


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
