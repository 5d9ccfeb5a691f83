"""The incident issue form (.github/ISSUE_TEMPLATE/incident.yml) against GitHub's form schema (the
keys and element types its documentation defines, checked here since no validator runs offline),
the form's fields against `shopfloor incident check`'s, and the check itself on bodies rendered the
way GitHub renders a submitted form (`### <label>`, then the answer or `_No response_`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfloor.cli import main
from shopfloor.incidents.report import FIELDS, LAYERS, NO_RESPONSE, check, render, sections
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)
FORM = REPO / ".github" / "ISSUE_TEMPLATE" / "incident.yml"

# docs.github.com, "Syntax for GitHub's form schema" and "Syntax for issue forms".
TOP_LEVEL = {"name", "description", "body", "assignees", "labels", "title", "projects", "type"}
REQUIRED_TOP_LEVEL = {"name", "description", "body"}
ATTRIBUTES = {
    "markdown": {"value"},
    "textarea": {"label", "description", "placeholder", "value", "render"},
    "input": {"label", "description", "placeholder", "value"},
    "dropdown": {"label", "description", "multiple", "options", "default"},
    "checkboxes": {"label", "description", "options"},
}
ID = re.compile(r"^[A-Za-z0-9_-]+$")


def form_problems(form: Any) -> list[str]:
    """Problems of an issue form, one sentence each."""
    if not isinstance(form, dict):
        return ["the form is not a mapping"]
    problems = [f"unknown top-level key {key!r}" for key in form if key not in TOP_LEVEL]
    problems += [f"missing top-level key {key!r}" for key in sorted(REQUIRED_TOP_LEVEL - set(form))]
    body = form.get("body")
    if not isinstance(body, list) or not any(e.get("type") != "markdown" for e in body if isinstance(e, dict)):
        return [*problems, "body must be a list with at least one non-markdown element"]
    ids: list[str] = []
    labels: list[str] = []
    for number, element in enumerate(body, start=1):
        kind = element.get("type")
        where = f"body[{number}] ({kind})"
        if kind not in ATTRIBUTES:
            problems.append(f"{where}: unknown type")
            continue
        problems += [
            f"{where}: unknown key {key!r}" for key in element if key not in {"type", "id", "attributes", "validations"}
        ]
        attributes = element.get("attributes") or {}
        problems += [f"{where}: unknown attribute {key!r}" for key in attributes if key not in ATTRIBUTES[kind]]
        if kind == "markdown":
            if "id" in element or "validations" in element:
                problems.append(f"{where}: markdown takes neither id nor validations")
            if not attributes.get("value"):
                problems.append(f"{where}: markdown needs attributes.value")
            continue
        if not attributes.get("label"):
            problems.append(f"{where}: needs attributes.label")
        labels.append(str(attributes.get("label")))
        if "id" in element:
            if not ID.match(str(element["id"])):
                problems.append(f"{where}: id {element['id']!r} may hold only letters, digits, - and _")
            ids.append(str(element["id"]))
        if set(element.get("validations") or {}) - {"required"}:
            problems.append(f"{where}: validations holds only required")
        if kind == "dropdown":
            options = attributes.get("options") or []
            if not options or len(set(options)) != len(options) or "None" in options:
                problems.append(f"{where}: options must be unique, non-empty and not 'None'")
    problems += [f"id {i!r} is used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    problems += [f"label {label!r} is used twice" for label in sorted({x for x in labels if labels.count(x) > 1})]
    return problems


def form() -> dict[str, Any]:
    document = yaml.safe_load(FORM.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


GOOD = {
    "symptom": "SLOFastBurn checkout-availability paging; POST /api/orders answers 503.",
    "impact": "About half of the checkouts failed for 14 minutes.",
    "start_time": "2026-11-30 14:05",
    "layer": "Kubernetes",
    "component": "catalog's NetworkPolicy",
}
CLOSED = {
    **GOOD,
    "timeline": "- 2026-11-30 14:05:00 — deploy (argocd)",
    "root_cause": "A values change.",
    "actions": "Reverted.",
}


def test_the_form_follows_githubs_form_schema() -> None:
    assert form_problems(form()) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda f: f.pop("description"), "missing top-level key 'description'"),
        (lambda f: f["body"][1].__setitem__("type", "text"), "body[2] (text): unknown type"),
        (lambda f: f["body"][2].__setitem__("id", "symptom"), "id 'symptom' is used twice"),
        (lambda f: f["body"][4]["attributes"].__setitem__("options", []), "body[5] (dropdown): options must be"),
        (lambda f: f["body"][1]["validations"].__setitem__("minimum", 3), "body[2] (textarea): validations holds only"),
        (lambda f: f["body"][3]["attributes"].pop("label"), "body[4] (input): needs attributes.label"),
    ],
)
def test_a_broken_form_is_refused(change: Any, problem: str) -> None:
    broken = form()
    change(broken)
    problems = form_problems(broken)
    assert any(p.startswith(problem) for p in problems), problems


def test_the_form_asks_what_the_check_reads() -> None:
    fields = [element for element in form()["body"] if element["type"] != "markdown"]
    assert [(e["id"], e["attributes"]["label"], e["type"], e["validations"]["required"]) for e in fields] == [
        (f.id, f.label, f.kind, f.required) for f in FIELDS
    ]
    layer = next(e for e in fields if e["id"] == "layer")
    assert layer["attributes"]["options"] == list(LAYERS)
    assert "incident" in form()["labels"]


def test_a_complete_report_passes_and_is_labelled_by_layer() -> None:
    report = check(render(GOOD))
    assert report.problems == []
    assert report.labels == ["incident", "layer/kubernetes"]
    assert check(render({**GOOD, "layer": "AWS"})).labels == ["incident", "layer/aws"]


def test_sections_read_githubs_rendering_with_crlf_and_multiline_answers() -> None:
    body = render({**GOOD, "timeline": "- a\n- b"}).replace("\n", "\r\n")
    found = sections(body)
    assert found["Timeline"] == "- a\n- b"
    assert found["Root cause"] == NO_RESPONSE


@pytest.mark.parametrize(
    ("values", "closed", "problems"),
    [
        ({**GOOD, "impact": ""}, False, ["section Impact is empty: it is required"]),
        (
            {**GOOD, "start_time": "yesterday at 2"},
            False,
            ["Start time (UTC) 'yesterday at 2' is not YYYY-MM-DD HH:MM (UTC)"],
        ),
        ({**GOOD, "layer": "network"}, False, ["Layer 'network' is not one of AWS, Kubernetes, application"]),
        (
            GOOD,
            True,
            [
                "section Timeline is empty: write it before the incident is closed",
                "section Root cause is empty: write it before the incident is closed",
                "section Actions is empty: write it before the incident is closed",
            ],
        ),
        (CLOSED, True, []),
    ],
)
def test_an_incomplete_report_is_refused(values: dict[str, str], closed: bool, problems: list[str]) -> None:
    assert check(render(values), closed=closed).problems == problems


def test_a_body_not_written_with_the_form_names_every_missing_section() -> None:
    problems = check("The shop is down!!").problems
    assert problems[0] == "section `### Symptom` is missing (open the issue with the incident form)"
    assert len(problems) == len(FIELDS)


def run_cli(*arguments: str) -> int | str | None:
    with pytest.raises(SystemExit) as exit_:
        main(list(arguments))
    return exit_.value.code


def test_the_cli_checks_a_body_and_writes_the_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body, labels = tmp_path / "body.md", tmp_path / "labels.txt"
    body.write_text(render({**GOOD, "layer": "application"}))
    assert run_cli("incident", "check", "--body-file", str(body), "--labels-out", str(labels)) == 0
    assert labels.read_text() == "incident\nlayer/application\n"
    assert "incident report fine" in capsys.readouterr().out

    assert run_cli("incident", "check", "--body-file", str(body), "--closed", "--labels-out", str(labels)) == 1
    assert "section Root cause is empty: write it before the incident is closed" in capsys.readouterr().out
    assert labels.read_text() == "incident\nlayer/application\n"  # labelled even while incomplete

    assert run_cli("incident", "check", "--body-file", str(tmp_path / "none.md")) == 2
    assert "--body-file" in capsys.readouterr().err


def test_the_workflow_labels_and_checks_through_the_cli() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "incident.yml").read_text(encoding="utf-8"))
    assert workflow[True]["issues"]["types"] == ["opened", "edited", "reopened", "closed", "labeled"]
    job = workflow["jobs"]["check"]
    assert job["permissions"] == {"contents": "read", "issues": "write"}
    script = job["steps"][-1]["run"]
    assert "shopfloor incident check --body-file" in script
    assert "--labels-out" in script
    assert "gh issue edit" in script
    assert "--add-label" in script
    # The body reaches the script through the environment, never as an expression in it.
    assert "${{" not in script
    assert job["steps"][-1]["env"]["BODY"] == "${{ github.event.issue.body }}"
