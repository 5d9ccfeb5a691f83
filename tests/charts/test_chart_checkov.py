"""checkov on what Argo CD will apply: every finding is fixed or carries its reason in
charts/checkov-skips.yaml, and every excuse there still excuses something."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

import yaml

from tests.charts.chartkit import REPO, Renders
from tests.checkovkit import CHECKOV, INSTALL_HINT

SKIPS_FILE = REPO / "charts" / "checkov-skips.yaml"


def load_skips() -> list[dict[str, Any]]:
    skips: list[dict[str, Any]] = yaml.safe_load(SKIPS_FILE.read_text())
    return skips


def resource_ref(resource: str) -> str:
    """checkov names a Kubernetes object Kind.namespace.name; the skips say Kind/name."""
    kind, _, rest = resource.partition(".")
    _, _, name = rest.partition(".")
    return f"{kind}/{name}"


def findings(results: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(check id, Kind/name, file) of every failed check."""
    found = []
    for report in results:
        for failed in report.get("results", {}).get("failed_checks", []):
            found.append((failed["check_id"], resource_ref(failed["resource"]), str(failed.get("file_path", ""))))
    return found


def unexplained(found: list[tuple[str, str, str]], skips: list[dict[str, Any]]) -> list[str]:
    def covered(check: str, ref: str) -> bool:
        return any(
            skip["check"] == check and any(fnmatch.fnmatchcase(ref, pattern) for pattern in skip["resources"])
            for skip in skips
        )

    return sorted({f"{check} {ref} ({where})" for check, ref, where in found if not covered(check, ref)})


def unused(found: list[tuple[str, str, str]], skips: list[dict[str, Any]]) -> list[str]:
    return [
        skip["check"]
        for skip in skips
        if not any(
            check == skip["check"] and any(fnmatch.fnmatchcase(ref, p) for p in skip["resources"])
            for check, ref, _ in found
        )
    ]


def test_every_skip_carries_its_reason() -> None:
    for skip in load_skips():
        assert set(skip) == {"check", "name", "resources", "reason"}, skip
        assert len(skip["reason"].split()) >= 15, f"{skip['check']}: say why, in a sentence or two"
        assert skip["resources"], f"{skip['check']}: name the objects it covers"


def test_checkov_finds_nothing_unexplained(
    renders: Renders, checkov_results: list[dict[str, Any]] | None, missing_dependency: Callable[[str, str], None]
) -> None:
    if checkov_results is None:
        missing_dependency(f"checkov ({CHECKOV})", INSTALL_HINT)
        return
    scanned = sum(report.get("summary", {}).get("resource_count", 0) for report in checkov_results)
    # checkov counts a workload's pod template as a resource of its own, so it sees more, never fewer.
    assert scanned >= sum(len(renders(env).manifests) for env in renders.cache), "checkov did not scan every object"
    assert all(report["summary"]["parsing_errors"] == 0 for report in checkov_results)
    found = findings(checkov_results)
    skips = load_skips()
    assert unexplained(found, skips) == []
    assert unused(found, skips) == []


def test_an_unexplained_finding_is_reported() -> None:
    found = [("CKV_K8S_20", "Deployment/catalog", "/prod.yaml"), ("CKV_K8S_35", "Deployment/catalog", "/prod.yaml")]
    skips = load_skips()
    assert unexplained(found, skips) == ["CKV_K8S_20 Deployment/catalog (/prod.yaml)"]
    assert unused(found, skips) == ["CKV_K8S_43", "CKV_K8S_15"]
