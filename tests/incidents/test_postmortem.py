"""Postmortems: the template holds every section, a draft renders in it and lints, and lint refuses
what a reviewer would (a missing or empty section, a prompt left in, a timeline out of order or
in another format, an alert at a time it was not delivered)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shopfloor.cli import main
from shopfloor.incidents.postmortem import SECTIONS, TEMPLATE, Draft, TimelineEvent, alert_events, lint, render
from shopfloor.observe.receiver import AlertEvent
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)
T0 = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def delivered(status: str, seconds: float) -> AlertEvent:
    return AlertEvent(
        received_at=T0 + timedelta(seconds=seconds),
        receiver="page",
        status=status,
        labels={"alertname": "SLOFastBurn", "slo": "checkout-availability", "job": "api-gateway"},
    )


ALERTS = [delivered("firing", 4.2), delivered("resolved", 41.0)]


def finished(text: str) -> str:
    """A draft with its prompts answered, as a person would leave it."""
    return (
        text.replace("<Why could this happen? Ask why until the answer is something to change.>", "No timeout.")
        .replace("<a concrete change>", "Add a timeout")
        .replace("<owner>", "ada")
        .replace("<due>", "2026-12-07")
        .replace("<ticket>", "#42")
        .replace("<...>", "noted")
    )


@pytest.fixture
def draft_text() -> str:
    events = [
        TimelineEvent(T0, "fault injected: catalog-kill", "chaos run"),
        *alert_events(ALERTS),
        TimelineEvent(T0 + timedelta(seconds=20), "fault removed: catalog restarted", "chaos run"),
    ]
    return render(
        Draft(
            title="checkout failed while catalog was down",
            summary="Checkouts failed for 20 s.",
            impact="checkout-availability: 38 % of checkouts failed.",
            events=events,
            trigger="catalog-kill, injected on purpose.",
            detection="SLOFastBurn fired 4.2 s after the fault.",
            resolution="catalog restarted; SLIs back within objective 41 s after the fault.",
        )
    )


def test_the_template_has_every_section_in_order() -> None:
    text = (REPO / TEMPLATE).read_text(encoding="utf-8")
    assert lint(text, allow_placeholders=True) == []
    assert lint(text)[0].startswith("section Summary still holds a template prompt")


def test_a_draft_is_in_the_template_and_lints_once_finished(draft_text: str) -> None:
    assert lint(draft_text, alerts=ALERTS, allow_placeholders=True) == []
    assert any("still holds a template prompt" in p for p in lint(draft_text))
    assert lint(finished(draft_text), alerts=ALERTS) == []
    timeline = draft_text.split("## Timeline")[1].split("##")[0]
    assert timeline.index("fault injected") < timeline.index("SLOFastBurn fired") < timeline.index("fault removed")


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("## Detection\n", "## Detektion\n", "missing sections: Detection"),
        ("## Impact\n\ncheckout-availability: 38 % of checkouts failed.\n", "## Impact\n\n", "section Impact is empty"),
        ("- 2026-11-30 12:00:00 — fault injected", "- 2026-11-30 12:00:59 — fault injected", "timeline out of order"),
        ("- 2026-11-30 12:00:00 — fault injected", "- 30/11/2026 12:00 — fault injected", "timeline line is not"),
        ("12:00:04 — SLOFastBurn fired", "12:00:14 — SLOFastBurn fired", "it was delivered at 12:00:04"),
        ("SLOFastBurn resolved", "CircuitBreakerOpen resolved", "no such alert was delivered"),
        ("# Postmortem: ", "# Incident: ", "the first line must be"),
    ],
)
def test_lint_names_what_is_wrong(draft_text: str, old: str, new: str, problem: str) -> None:
    text = finished(draft_text)
    assert old in text, old
    problems = lint(text.replace(old, new, 1), alerts=ALERTS)
    assert any(problem in p for p in problems), problems


def test_sections_out_of_order_are_named(draft_text: str) -> None:
    text = finished(draft_text)
    trigger = text.index("## Trigger")
    detection = text.index("## Detection")
    swapped = text[:trigger] + text[detection : text.index("## Resolution")] + text[trigger:detection]
    swapped += text[text.index("## Resolution") :]
    assert any("sections out of order" in p for p in lint(swapped))


def test_the_command_exits_1_naming_the_file_and_0_when_fine(
    tmp_path: Path, draft_text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.md", tmp_path / "bad.md"
    good.write_text(finished(draft_text))
    bad.write_text(finished(draft_text).replace("## Trigger\n", ""))
    with pytest.raises(SystemExit) as fine:
        main(["postmortem", "lint", str(good)])
    assert fine.value.code == 0
    with pytest.raises(SystemExit) as broken:
        main(["postmortem", "lint", str(good), str(bad)])
    assert broken.value.code == 1
    assert f"{bad}: missing sections: Trigger" in capsys.readouterr().out
    assert len(SECTIONS) == 9
