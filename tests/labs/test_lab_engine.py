"""The lab engine without a shop: the format and its errors, answers, hints and scores, the progress
file, `lab list --json`, and docs/labs.md's generated learning path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfloor.cli import main
from shopfloor.labs.model import (
    LabError,
    catalogue_faults,
    defined_alerts,
    load_causes,
    load_labs,
    normalise_component,
    parse_lab,
)
from shopfloor.labs.progress import Progress
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)
ISSUE_LABS = {
    "slow-dependency",
    "error-release",
    "pool-exhaustion",
    "held-lock",
    "cache-outage",
    "memory-leak",
    "bad-config",
    "stock-after-hang",
    "incident-release-peak",
    "incident-db-failover",
}


@pytest.fixture
def labs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPFLOOR_LABS_DIR", str(tmp_path / "labs-state"))
    return tmp_path / "labs-state"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["--repo", str(REPO), *argv])
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out + captured.err


def test_the_repo_labs_load_and_cover_the_issue() -> None:
    labs = {lab.id: lab for lab in load_labs(REPO)}
    assert set(labs) >= ISSUE_LABS
    assert all(labs[name].layer == "application" and labs[name].runs_on == "local-stack" for name in ISSUE_LABS)
    assert {labs[name].level for name in ISSUE_LABS} == {"basic", "intermediate", "advanced"}
    assert labs["cache-outage"].tolerate
    assert labs["pool-exhaustion"].tolerate
    assert labs["stock-after-hang"].verify.get("consistency")
    assert all(labs[name].verify.get("postmortem") for name in ("incident-release-peak", "incident-db-failover"))


def lab_data(lab_id: str = "error-release") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "labs" / lab_id / "lab.yaml").read_text(encoding="utf-8"))
    return data


def parse(tmp_path: Path, data: dict[str, Any], *, readme: bool = True) -> None:
    folder = tmp_path / str(data.get("id", "x"))
    folder.mkdir(exist_ok=True)
    if readme:
        (folder / "README.md").write_text("# x\n", encoding="utf-8")
    parse_lab(
        folder,
        data,
        causes=load_causes(REPO),
        faults=catalogue_faults(REPO),
        alerts=defined_alerts(REPO),
        repo=REPO,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("ground_truth"), "missing key(s): ground_truth"),
        (lambda d: d.update(colour="red"), "unknown key(s): colour"),
        (lambda d: d.update(level="expert"), "level must be one of basic, intermediate, advanced"),
        (lambda d: d.update(layer="network"), "layer must be one of application, kubernetes, aws"),
        (lambda d: d.update(runs_on="laptop"), "runs_on must be one of"),
        (lambda d: d.update(estimated_minutes="soon"), "estimated_minutes must be a whole number"),
        (lambda d: d.update(faults=["no-such-fault"]), "'no-such-fault' is not in chaos/faults.yaml"),
        (lambda d: d.update(alerts=["NoSuchAlert"]), "'NoSuchAlert' is not an alert of observability/"),
        (lambda d: d.update(runbooks=["runbooks/Nothing.md"]), "is not a file runbooks/<name>.md"),
        (lambda d: d["ground_truth"].update(cause="gremlins"), "'gremlins' is not a category of labs/causes.yaml"),
        (lambda d: d["ground_truth"].pop("component"), "ground_truth must have exactly layer, component and cause"),
        (lambda d: d.update(hints=[{"text": "x", "cost": 40}, {"text": "y", "cost": 40}]), "at most 50"),
        (lambda d: d.update(hints=[{"text": "x"}]), "hints[1] must have exactly text and cost"),
        (lambda d: d.update(solution={"how": "magic"}), "solution must be a mapping with steps"),
        (lambda d: d.update(tolerate="maybe"), "tolerate must be true or false"),
        (lambda d: d.update(tolerate=True), "tolerate: true needs verify.fault_active: true"),
        (lambda d: d.update(verify={"vibes": True}), "verify: unknown key(s) vibes"),
        (lambda d: d.update(verify={}), "needs `verify:`"),
        (lambda d: d.update(stack={"deliver": "by-post"}), "stack.deliver must be one of"),
        (lambda d: d.update(offline={"kind": "render"}), "offline: only for runs_on: offline"),
        (lambda d: d.update(faults=["az-network-disruption"]), "has no local injection"),
    ],
)
def test_a_malformed_lab_is_refused_naming_the_key(tmp_path: Path, change: Any, message: str) -> None:
    data = lab_data()
    change(data)
    with pytest.raises(LabError, match=r"labs/error-release/lab\.yaml: ") as error:
        parse(tmp_path, data)
    assert message in str(error.value)


def test_the_id_must_be_the_folder_and_a_readme_must_exist(tmp_path: Path) -> None:
    data = lab_data()
    data["id"] = "Other Name"
    folder = tmp_path / "error-release"
    folder.mkdir()
    with pytest.raises(LabError, match="id must be the folder's name"):
        parse_lab(folder, data, causes=load_causes(REPO), faults=catalogue_faults(REPO), alerts=None, repo=REPO)
    with pytest.raises(LabError, match=r"README\.md is missing"):
        parse(tmp_path, lab_data(), readme=False)


def test_validate_names_the_broken_lab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "repo"
    for part in ("labs", "chaos", "runbooks", "observability"):
        shutil.copytree(REPO / part, copy / part)
    (copy / ".git").mkdir()
    broken = copy / "labs" / "bad-config" / "lab.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("level: basic", "level: easy"), encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["--repo", str(copy), "lab", "validate"])
    assert exit_info.value.code == 1
    assert "labs/bad-config/lab.yaml: level must be one of" in capsys.readouterr().out


def test_components_compare_loosely() -> None:
    assert normalise_component("API Gateway") == normalise_component("api-gateway-service") == "api-gateway"
    assert normalise_component("catalog") != normalise_component("orders")


def test_hints_cost_points_progressively(labs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "lab", "hint", "error-release")
    assert code == 2
    assert "has not been started" in out
    progress = Progress.load(REPO)
    progress.start("error-release")
    progress.save()
    costs = [hint.cost for hint in next(lab for lab in load_labs(REPO) if lab.id == "error-release").hints]
    for shown in range(1, len(costs) + 1):
        code, out = run(capsys, "lab", "hint", "error-release")
        assert code == 0
        assert f"hint {shown}/{len(costs)}" in out
        assert f"hint {shown + 1}/" not in out
        assert f"(-{costs[shown - 1]} points; this attempt's score is now at most {100 - sum(costs[:shown])})" in out
    code, out = run(capsys, "lab", "hint", "error-release")
    assert "no more hints" in out
    attempt = Progress.load(REPO).attempt("error-release")
    assert attempt.hints_shown == len(costs)
    assert attempt.score == 100 - sum(costs)


def test_answers_are_checked_against_the_ground_truth(labs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress.load(REPO)
    progress.start("bad-config")
    progress.save()
    code, out = run(
        capsys,
        "lab",
        "answer",
        "bad-config",
        "--layer",
        "application",
        "--component",
        "catalog",
        "--cause",
        "bad-config",
    )
    assert code == 1
    assert "component wrong" in out
    assert "layer, cause right" in out
    code, out = run(
        capsys,
        "lab",
        "answer",
        "bad-config",
        "--layer",
        "kubernetes",
        "--component",
        "orders",
        "--cause",
        "dependency-down",
    )
    assert code == 1
    assert "layer, cause wrong" in out
    code, out = run(
        capsys,
        "lab",
        "answer",
        "bad-config",
        "--layer",
        "application",
        "--component",
        "Orders",
        "--cause",
        "bad-config",
    )
    assert code == 0
    assert "right: application / orders / bad-config" in out
    attempt = Progress.load(REPO).attempt("bad-config")
    assert attempt.wrong_answers == 2
    assert attempt.score == 80
    assert attempt.diagnosed_at is not None
    code, out = run(
        capsys, "lab", "answer", "bad-config", "--layer", "application", "--component", "orders", "--cause", "gremlins"
    )
    assert code == 2
    assert "not a category of labs/causes.yaml" in out
    code, out = run(
        capsys, "lab", "answer", "bad-config", "--layer", "network", "--component", "x", "--cause", "capacity"
    )
    assert code == 2
    assert "--layer" in out


def test_progress_is_written_atomically_and_read_back(labs_dir: Path) -> None:
    progress = Progress.load(REPO)
    attempt = progress.start("held-lock")
    attempt.hints_shown, attempt.hint_points = 1, 5
    attempt.diagnosed_at = attempt.started_at
    progress.solved("held-lock")
    progress.save()
    assert sorted(p.name for p in labs_dir.iterdir()) == ["progress.json"]  # no temporary file left
    again = Progress.load(REPO)
    entry = again.labs["held-lock"]
    assert entry.done
    assert entry.best_score == 95
    assert entry.solved_attempts[0]["seconds_to_diagnose"] == 0
    (labs_dir / "progress.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a progress file this tool wrote"):
        Progress.load(REPO)


def test_list_json_and_report(labs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress.load(REPO)
    progress.start("error-release").diagnosed_at = "2026-11-30T12:00:00+00:00"
    progress.solved("error-release")
    progress.save()
    code, out = run(capsys, "lab", "list", "--json")
    rows = {row["id"]: row for row in json.loads(out)}
    assert code == 0
    assert set(rows) >= ISSUE_LABS
    assert rows["error-release"]["done"]
    assert rows["error-release"]["score"] == 100
    assert rows["error-release"]["state"] == "done (100)"
    assert set(rows["bad-config"]) == {
        "id",
        "title",
        "level",
        "layer",
        "estimated_minutes",
        "runs_on",
        "state",
        "done",
        "score",
    }
    code, out = run(capsys, "lab", "report")
    assert code == 0
    assert "error-release" in out
    assert "read next: runbooks/SLOFastBurn.md" in out
    assert "labs next: " in out


def test_docs_learning_path_is_generated(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "lab", "table", "--check")
    assert code == 0, out


def test_verify_without_a_shop_says_how_to_start(labs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Progress.load(REPO).start("error-release")
    progress = Progress.load(REPO)
    progress.start("error-release")
    progress.save()
    code, out = run(capsys, "lab", "verify", "error-release")
    assert code == 2
    assert "no lab shop is running" in out
    code, out = run(capsys, "lab", "start", "no-such-lab")
    assert code == 2
    assert "no lab 'no-such-lab'" in out


def test_tolerate_refuses_a_fix_that_removed_the_fault() -> None:
    import asyncio
    from dataclasses import replace

    from shopfloor.labs.checks import run_stack_checks

    lab = next(lab for lab in load_labs(REPO) if lab.id == "cache-outage")
    only_tolerate = replace(lab, verify={"fault_active": True})
    removed = asyncio.run(run_stack_checks(REPO, only_tolerate, {}, {"redis-down": False}, lambda _on: None))
    assert [c.ok for c in removed] == [False]
    assert "redis-down no longer in effect: this lab's lesson is to tolerate it" in removed[0].message
    kept = asyncio.run(run_stack_checks(REPO, only_tolerate, {}, {"redis-down": True}, lambda _on: None))
    assert [c.ok for c in kept] == [True]
