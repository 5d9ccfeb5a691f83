"""Postmortems in the project's format (docs/postmortems/TEMPLATE.md): drafted from what a run
recorded, and linted.

A draft fills what the tools know — the timeline from the alerts delivered and the run's own
journal (fault injected, removed, SLIs back), the impact from the SLOs — and leaves the parts only
people can write (root causes, action items, lessons) as prompts. Chaos records
(`shopfloor chaos run`) and lab runs (`shopfloor lab`) both draft through `draft`.

`lint` checks what a reviewer would otherwise check by hand: every section of the template, in
order, none left as the template's placeholder; every timeline line a UTC timestamp, oldest first;
and, given the alerts that were delivered, that every alert the timeline names happened at the time
it says (within a tolerance).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shopfloor.observe.receiver import AlertEvent

TEMPLATE = "docs/postmortems/TEMPLATE.md"
SECTIONS = (
    "Summary",
    "Impact",
    "Timeline",
    "Root causes",
    "Trigger",
    "Detection",
    "Resolution",
    "Action items",
    "Lessons learned",
)
ALERT_SOURCE = "alertmanager"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# `- 2026-11-30 12:34:56 — what happened (source)`
_EVENT = re.compile(r"^- (?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) — (?P<what>.+?) \((?P<source>[^()]+)\)\s*$")
_PLACEHOLDER = re.compile(r"<(?!https?:)[A-Za-z.][^<>]{2,}>")  # the template's "<Two or three sentences ...>" prompts
_HEADING = re.compile(r"^## (.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime  # aware, any zone; written in UTC
    what: str
    source: str  # who or what says so: alertmanager, the chaos run, prometheus, a person

    def line(self) -> str:
        return f"- {self.at.astimezone(UTC).strftime(TIME_FORMAT)} — {self.what} ({self.source})"


def alert_events(alerts: Iterable[AlertEvent]) -> list[TimelineEvent]:
    """One timeline line per alert state change delivered (firing, resolved)."""
    events = []
    for alert in alerts:
        where = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k in {"slo", "job", "upstream"})
        state = "fired" if alert.status == "firing" else "resolved"
        events.append(
            TimelineEvent(
                alert.received_at, f"{alert.alertname} {state}" + (f" [{where}]" if where else ""), ALERT_SOURCE
            )
        )
    return events


@dataclass
class Draft:
    title: str
    summary: str
    impact: str
    events: Sequence[TimelineEvent]
    trigger: str
    detection: str
    resolution: str
    root_causes: str = "<Why could this happen? Ask why until the answer is something to change.>"
    action_items: list[tuple[str, str]] = field(default_factory=list)  # (action, kind)
    sources: list[str] = field(default_factory=list)  # where the draft's facts come from (record files)


def render(draft: Draft) -> str:
    """The postmortem as Markdown, in the template's sections and order."""
    events = sorted(draft.events, key=lambda e: e.at)
    actions = draft.action_items or [("<a concrete change>", "prevent")]
    lines = [
        f"# Postmortem: {draft.title}",
        "",
        "Drafted by `shopfloor postmortem draft`"
        + (f" from {', '.join(draft.sources)}" if draft.sources else "")
        + ": the timeline, impact and detection come from the run's records; root causes, action items and "
        "lessons are for people to write. Times are UTC.",
        "",
        "## Summary",
        "",
        draft.summary,
        "",
        "## Impact",
        "",
        draft.impact,
        "",
        "## Timeline",
        "",
        *(event.line() for event in events),
        "",
        "## Root causes",
        "",
        draft.root_causes,
        "",
        "## Trigger",
        "",
        draft.trigger,
        "",
        "## Detection",
        "",
        draft.detection,
        "",
        "## Resolution",
        "",
        draft.resolution,
        "",
        "## Action items",
        "",
        "| action | kind (prevent, detect, mitigate) | owner | due | ticket |",
        "|---|---|---|---|---|",
        *(f"| {action} | {kind} | <owner> | <due> | <ticket> |" for action, kind in actions),
        "",
        "## Lessons learned",
        "",
        "- What went well: <...>",
        "- What went wrong: <...>",
        "- Where we got lucky: <...>",
        "",
    ]
    return "\n".join(lines)


def _sections(text: str) -> dict[str, str]:
    """Heading -> body of every `## ` section."""
    matches = list(_HEADING.finditer(text))
    return {
        match.group(1): text[match.end() : matches[i + 1].start() if i + 1 < len(matches) else len(text)]
        for i, match in enumerate(matches)
    }


def timeline(text: str) -> list[TimelineEvent]:
    """The timeline's events (lines that do not parse are lint problems, not events)."""
    body = _sections(text).get("Timeline", "")
    events = []
    for line in body.splitlines():
        match = _EVENT.match(line.strip())
        if match:
            at = datetime.strptime(match.group("at"), TIME_FORMAT).replace(tzinfo=UTC)
            events.append(TimelineEvent(at, match.group("what"), match.group("source")))
    return events


def lint(
    text: str,
    *,
    alerts: Sequence[AlertEvent] | None = None,
    tolerance: timedelta = timedelta(seconds=2),
    allow_placeholders: bool = False,
) -> list[str]:
    """Problems of a postmortem, each a sentence naming where; [] when it is fine. A draft keeps
    its prompts (`allow_placeholders`); a finished postmortem must not."""
    problems = []
    if not text.startswith("# Postmortem: "):
        problems.append("the first line must be `# Postmortem: <title>`")
    headings = [match.group(1) for match in _HEADING.finditer(text)]
    missing = [name for name in SECTIONS if name not in headings]
    if missing:
        problems.append(f"missing sections: {', '.join(missing)}")
    present = [name for name in headings if name in SECTIONS]
    if present != [name for name in SECTIONS if name in present]:
        problems.append(f"sections out of order: {', '.join(present)} (expected {', '.join(SECTIONS)})")
    sections = _sections(text)
    for name in SECTIONS:
        body = sections.get(name)
        if body is None:
            continue
        if not body.strip():
            problems.append(f"section {name} is empty")
        elif not allow_placeholders and (prompt := _PLACEHOLDER.search(body)):
            problems.append(f"section {name} still holds a template prompt: {prompt.group(0)}")
    lines = [line.strip() for line in sections.get("Timeline", "").splitlines() if line.strip().startswith("- ")]
    if "Timeline" in sections and not lines:
        problems.append("the timeline has no events")
    previous: datetime | None = None
    for line in lines:
        match = _EVENT.match(line)
        if not match:
            problems.append(f"timeline line is not `- YYYY-MM-DD HH:MM:SS — what (source)`: {line}")
            continue
        at = datetime.strptime(match.group("at"), TIME_FORMAT).replace(tzinfo=UTC)
        if previous is not None and at < previous:
            problems.append(f"timeline out of order: {match.group('at')} comes after {previous.strftime(TIME_FORMAT)}")
        previous = at
    if alerts is not None:
        problems += _alert_problems(timeline(text), alerts, tolerance)
    return problems


def _alert_problems(events: Sequence[TimelineEvent], alerts: Sequence[AlertEvent], tolerance: timedelta) -> list[str]:
    problems = []
    for event in events:
        if event.source != ALERT_SOURCE:
            continue
        name, _, rest = event.what.partition(" ")
        status = "resolved" if rest.startswith("resolved") else "firing"
        times = [a.received_at for a in alerts if a.alertname == name and a.status == status]
        if not times:
            problems.append(f"timeline says {name} {status} at {event.at:%H:%M:%S}, but no such alert was delivered")
        elif min(abs(t - event.at) for t in times) > tolerance:
            nearest = min(times, key=lambda t: abs(t - event.at))
            problems.append(
                f"timeline says {name} {status} at {event.at:%H:%M:%S}; it was delivered at "
                f"{nearest.astimezone(UTC):%H:%M:%S}"
            )
    return problems
