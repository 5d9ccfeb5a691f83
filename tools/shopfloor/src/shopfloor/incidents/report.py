"""Incident reports: the GitHub issue form .github/ISSUE_TEMPLATE/incident.yml, and the check the
incident workflow (.github/workflows/incident.yml) runs on every opened, edited or closed incident.

GitHub renders a submitted form as Markdown, one `### <label>` heading per field followed by the
value, `_No response_` for an optional field left empty. `check` reads that body back: every field
the form declares must be there, the required ones answered, the start time a UTC timestamp and the
layer one of the three; once the incident is closed, the timeline, root cause and actions must be
written too. The layer decides the labels the workflow puts on the issue.

Standard library only: the workflow installs the bare `shopfloor` package (no extras).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

NO_RESPONSE = "_No response_"
INCIDENT_LABEL = "incident"
# The form's dropdown options and the label each one puts on the issue.
LAYERS = {"AWS": "layer/aws", "Kubernetes": "layer/kubernetes", "application": "layer/application"}
START_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class Field:
    id: str
    label: str
    kind: str  # the issue form's element type: textarea, input, dropdown
    required: bool  # when the issue is opened (the form enforces it too)
    at_close: bool = True  # required once the incident is closed


# The form's fields, in order: tests/incidents/test_incident_form.py checks the form file says the same.
FIELDS = (
    Field("symptom", "Symptom", "textarea", True),
    Field("impact", "Impact", "textarea", True),
    Field("start_time", "Start time (UTC)", "input", True),
    Field("layer", "Layer", "dropdown", True),
    Field("component", "Suspected component", "input", True),
    Field("timeline", "Timeline", "textarea", False),
    Field("root_cause", "Root cause", "textarea", False),
    Field("actions", "Actions", "textarea", False),
)

_HEADING = re.compile(r"^### (.+?)\s*$", re.MULTILINE)


def sections(body: str) -> dict[str, str]:
    """`### <label>` heading -> its value (stripped), as GitHub renders an issue form."""
    body = body.replace("\r\n", "\n")
    matches = list(_HEADING.finditer(body))
    return {
        match.group(1): body[match.end() : matches[i + 1].start() if i + 1 < len(matches) else len(body)].strip()
        for i, match in enumerate(matches)
    }


def _answered(value: str | None) -> bool:
    return bool(value) and value != NO_RESPONSE


@dataclass(frozen=True)
class Report:
    problems: list[str]
    labels: list[str]


def check(body: str, *, closed: bool = False) -> Report:
    """Problems of an incident issue's body (one sentence each) and the labels it should carry."""
    found = sections(body)
    problems = []
    for field in FIELDS:
        if field.label not in found:
            problems.append(f"section `### {field.label}` is missing (open the issue with the incident form)")
        elif (field.required or (closed and field.at_close)) and not _answered(found[field.label]):
            when = "it is required" if field.required else "write it before the incident is closed"
            problems.append(f"section {field.label} is empty: {when}")
    start = found.get("Start time (UTC)", "")
    if _answered(start):
        text = start.removesuffix("Z").removesuffix(" UTC").strip()
        if not any(_parses(text, layout) for layout in START_FORMATS):
            problems.append(f"Start time (UTC) {start!r} is not YYYY-MM-DD HH:MM (UTC)")
    labels = [INCIDENT_LABEL]
    layer = found.get("Layer", "")
    if _answered(layer):
        if layer in LAYERS:
            labels.append(LAYERS[layer])
        else:
            problems.append(f"Layer {layer!r} is not one of {', '.join(LAYERS)}")
    return Report(problems, labels)


def _parses(text: str, layout: str) -> bool:
    try:
        datetime.strptime(text, layout)
    except ValueError:
        return False
    return True


def render(values: dict[str, str]) -> str:
    """An issue body as GitHub renders the form with these answers (by field id), for tests and docs."""
    parts = []
    for field in FIELDS:
        parts.append(f"### {field.label}\n\n{values.get(field.id) or NO_RESPONSE}")
    return "\n\n".join(parts) + "\n"
