"""The runbooks as a knowledge base (shopfloor/incidents/knowledge.py): runbooks/README.md is the
generated index, every alert rule (hand-written and generated SLO rules) has a runbook, and every
runbook is reached from something (an alert, a lab or a chaos fault). Each rule is shown failing on
a deliberately broken copy of the files it reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shopfloor.cli import main
from shopfloor.incidents.knowledge import INDEX, alerts, index_text, knowledge_base
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)


def test_every_alert_has_a_runbook_and_every_runbook_leads_somewhere() -> None:
    kb = knowledge_base(REPO)
    assert kb.problems == []
    names = {alert.name for alert in kb.alerts}
    # Both sources are read: the hand-written rules and the SLO rules generated from slos.yaml.
    assert {"PodNotReady", "HighErrorRatio", "SLOFastBurn", "SLOSlowBurn"} <= names


def test_the_index_is_up_to_date() -> None:
    assert (REPO / INDEX).read_text(encoding="utf-8") == index_text(REPO), "run `shopfloor runbooks --write`"


def test_the_index_links_each_runbook_to_its_alerts_labs_and_faults() -> None:
    text = (REPO / INDEX).read_text(encoding="utf-8")
    for book in knowledge_base(REPO).runbooks.values():
        assert f"[{book.name}]({book.name}.md)" in text
        for lab in book.labs:
            assert f"[{lab.id}](../labs/{lab.id}/README.md)" in text
            assert (REPO / "labs" / lab.id / "README.md").is_file(), lab.id


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for folder in ("runbooks", "observability/rules", "observability/generated", "labs", "chaos"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path


def test_an_alert_without_a_runbook_is_caught(copy: Path) -> None:
    (copy / "runbooks" / "PodNotReady.md").unlink()
    problems = knowledge_base(copy).problems
    assert (
        "alert PodNotReady (observability/rules/kubernetes.yaml) links to runbooks/PodNotReady.md, which does not exist"
        in problems
    )
    assert any(p.startswith("lab k8s-readiness-probe-path links to runbooks/PodNotReady.md") for p in problems)

    rules = copy / "observability" / "rules" / "app.yaml"
    rules.write_text(
        rules.read_text().replace(
            "runbook_url: https://github.com/shopfloor/shopfloor/blob/main/runbooks/HighErrorRatio.md",
            "dashboard: none",
        )
    )
    assert "alert HighErrorRatio (observability/rules/app.yaml) has no runbook_url" in knowledge_base(copy).problems


def test_a_runbook_that_nothing_leads_to_is_caught(copy: Path) -> None:
    (copy / "runbooks" / "Orphan.md").write_text("# Orphan\n\n## Meaning\n\nNobody comes here.\n")
    assert knowledge_base(copy).problems == [
        "runbooks/Orphan.md links to nothing: no alert's runbook_url, no lab and no chaos fault names it"
    ]


def test_a_runbook_of_an_alert_without_its_sections_is_caught(copy: Path) -> None:
    (copy / "runbooks" / "RedisDown.md").write_text("# RedisDown\n\n## Meaning\n\nRedis is down.\n")
    assert knowledge_base(copy).problems == ["runbooks/RedisDown.md lacks the sections Impact, Diagnosis, Mitigation"]


def test_the_command_writes_and_checks_the_index(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The copy is a repository to the command as far as --repo-less discovery goes: point at it.
    (copy / "apps").mkdir()
    (copy / "tools" / "shopfloor").mkdir(parents=True)
    (copy / INDEX).write_text("stale\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOPFLOOR_REPO", str(copy))
        with pytest.raises(SystemExit) as stale:
            main(["runbooks", "--check"])
        assert stale.value.code == 1
        assert "runbooks/README.md is out of date: run `shopfloor runbooks --write`" in capsys.readouterr().out
        with pytest.raises(SystemExit) as written:
            main(["runbooks", "--write"])
        assert written.value.code == 0
        with pytest.raises(SystemExit) as fresh:
            main(["runbooks", "--check"])
        assert fresh.value.code == 0
    assert (copy / INDEX).read_text() == index_text(copy)


def test_alerts_come_with_their_layer() -> None:
    layers = {alert.name: alert.layer for alert in alerts(REPO)}
    assert layers["PodNotReady"] == "kubernetes"
    assert layers["RDSConnectionsNearLimit"] == "aws"
