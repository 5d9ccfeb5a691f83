"""checkov over terraform/: every failure is fixed or skipped inline with its reason
(`#checkov:skip=CKV_...:why`), and every inline skip still excuses a finding."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.checkovkit import CHECKOV, INSTALL_HINT, run_checkov
from tests.terraform.terraformkit import CHECKOV_SKIP, TERRAFORM


@pytest.fixture(scope="module")
def checkov_report() -> Iterator[list[dict[str, Any]] | None]:
    if not CHECKOV.exists():
        yield None
        return
    # Not --quiet: the test needs the skipped checks too. Registry modules (vpc, eks, iam) are
    # not downloaded: checkov scans our own code and the inputs we give them.
    yield run_checkov("terraform", TERRAFORM)


def require(
    report: list[dict[str, Any]] | None, missing_dependency: Callable[[str, str], None]
) -> list[dict[str, Any]]:
    if report is None:
        missing_dependency(f"checkov ({CHECKOV})", INSTALL_HINT)
        raise AssertionError("unreachable: missing_dependency skips or fails")
    return report


def checks(report: list[dict[str, Any]], outcome: str) -> list[dict[str, Any]]:
    return [check for part in report for check in part.get("results", {}).get(outcome, [])]


def test_checkov_finds_nothing_unexplained(
    checkov_report: list[dict[str, Any]] | None, missing_dependency: Callable[[str, str], None]
) -> None:
    report = require(checkov_report, missing_dependency)
    assert all(part["summary"]["parsing_errors"] == 0 for part in report)
    # Every module is scanned through the environments that call it.
    assert sum(part["summary"]["resource_count"] for part in report) >= 50
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']})" for check in checks(report, "failed_checks")
    ]
    assert failed == []


def test_every_inline_skip_is_still_needed_and_explained(
    checkov_report: list[dict[str, Any]] | None, missing_dependency: Callable[[str, str], None]
) -> None:
    report = require(checkov_report, missing_dependency)
    skipped = checks(report, "skipped_checks")
    assert skipped, "checkov reported no skipped checks: is it still run without --quiet?"
    assert all(len(str(check["check_result"].get("suppress_comment", "")).split()) >= 8 for check in skipped)
    written = {
        (path.relative_to(TERRAFORM).as_posix(), match.group("check"))
        for path in TERRAFORM.rglob("*.tf")
        for match in CHECKOV_SKIP.finditer(path.read_text())
    }
    used = {(Path(check["file_abs_path"]).relative_to(TERRAFORM).as_posix(), check["check_id"]) for check in skipped}
    assert sorted(written - used) == [], "these skips no longer excuse anything: remove them"
