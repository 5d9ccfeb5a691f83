"""The worked example postmortem (docs/postmortems/): it passes `shopfloor postmortem lint` (every
section, filled, the timeline in UTC and in order), and what it names exists: the alerts are rules
of observability/, the runbooks are files, the fault is in the chaos catalogue, the journey in
observability/slos.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from shopfloor.cli import main
from shopfloor.incidents.knowledge import alerts
from shopfloor.incidents.postmortem import SECTIONS, TEMPLATE, lint, timeline
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)
EXAMPLES = sorted(p for p in (REPO / "docs" / "postmortems").glob("*.md") if p.name != Path(TEMPLATE).name)


def test_there_is_a_worked_example() -> None:
    assert EXAMPLES, "docs/postmortems/ holds only the template"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_example_passes_the_lint(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = path.read_text(encoding="utf-8")
    assert lint(text) == []
    with pytest.raises(SystemExit) as exit_:
        main(["postmortem", "lint", str(path)])
    assert exit_.value.code == 0
    assert "1 postmortem(s) fine" in capsys.readouterr().out
    assert len(timeline(text)) >= 5
    assert all(f"## {section}" in text for section in SECTIONS)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_what_the_example_names_exists(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    rules = {alert.name for alert in alerts(REPO)}
    named_alerts = {event.what.split()[0] for event in timeline(text) if event.source == "alertmanager"}
    assert named_alerts, "the timeline names no alert"
    assert named_alerts <= rules, named_alerts - rules
    for runbook in set(re.findall(r"runbooks/(\w+)\.md", text)):
        assert (REPO / "runbooks" / f"{runbook}.md").is_file(), runbook
    faults = {fault["id"] for fault in yaml.safe_load((REPO / "chaos" / "faults.yaml").read_text())["faults"]}
    for fault in re.findall(r"catalogue's `([\w-]+)`", text):
        assert fault in faults, fault
    journeys = {j["name"] for j in yaml.safe_load((REPO / "observability" / "slos.yaml").read_text())["journeys"]}
    for slo in re.findall(r"\[slo=([\w-]+)-(?:latency|availability)\]", text):
        assert slo in journeys, slo


def test_the_lint_would_catch_a_broken_copy_of_the_example() -> None:
    text = EXAMPLES[0].read_text(encoding="utf-8")
    events = [line for line in text.splitlines() if line.startswith("- 2026-")]
    swapped = text.replace(events[0], "@@").replace(events[1], events[0]).replace("@@", events[1])
    assert any(p.startswith("timeline out of order") for p in lint(swapped))
