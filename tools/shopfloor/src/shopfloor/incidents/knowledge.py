"""The runbooks as a knowledge base: runbooks/README.md, generated (`shopfloor runbooks --write`).

It indexes every runbook by the alerts that link to it (their runbook_url), by symptom (the first
sentence of the runbook's Meaning) and by layer (the alerts' `layer` label and the labs' layer), and
lists the labs (labs/*/lab.yaml `runbooks:`) and the chaos faults (chaos/faults.yaml `runbook:`,
`cluster_procedure:`) that practise each. `problems` is what makes the knowledge base trustworthy:
an alert without a runbook, a runbook_url or lab link to a runbook that does not exist, a runbook
nothing leads to (no alert, no lab, no fault), or a runbook without its four sections.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

INDEX = "runbooks/README.md"
RUNBOOKS = "runbooks"
# The hand-written alert rules and the SLO rules generated from observability/slos.yaml (the lab
# profile's copy, slo-rules.lab.yaml, carries the same alerts).
RULE_FILES = ("observability/rules/*.yaml", "observability/generated/slo-rules.yaml")
RUNBOOK_URL = re.compile(r"/runbooks/(?P<name>[\w.-]+)\.md$")
SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation")
_SECTION = re.compile(r"^## (?P<name>.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Alert:
    name: str
    layer: str
    severity: str
    runbook: str | None  # the runbook's name (runbooks/<name>.md), None when the rule has no runbook_url
    source: str  # the rule file


@dataclass(frozen=True)
class Lab:
    id: str
    title: str
    level: str
    layer: str
    runbooks: tuple[str, ...]


@dataclass
class Runbook:
    name: str
    title: str
    symptom: str
    alerts: set[str] = field(default_factory=set)
    layers: set[str] = field(default_factory=set)
    labs: list[Lab] = field(default_factory=list)
    faults: set[str] = field(default_factory=set)


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not YAML: {exc}") from None


def alerts(repo: Path) -> list[Alert]:
    found = []
    for pattern in RULE_FILES:
        for path in sorted(repo.glob(pattern)):
            document = _load(path) or {}
            for group in document.get("groups") or []:
                for rule in group.get("rules") or []:
                    if "alert" not in rule:
                        continue
                    labels, annotations = rule.get("labels") or {}, rule.get("annotations") or {}
                    match = RUNBOOK_URL.search(str(annotations.get("runbook_url", "")))
                    found.append(
                        Alert(
                            name=rule["alert"],
                            layer=str(labels.get("layer", "")),
                            severity=str(labels.get("severity", "")),
                            runbook=match.group("name") if match else None,
                            source=str(path.relative_to(repo)),
                        )
                    )
    return found


def labs(repo: Path) -> list[Lab]:
    found = []
    for path in sorted((repo / "labs").glob("*/lab.yaml")):
        document = _load(path)
        if not isinstance(document, dict):
            raise ValueError(f"{path}: not a mapping")
        names = tuple(
            str(reference).removeprefix(f"{RUNBOOKS}/").removesuffix(".md")
            for reference in document.get("runbooks") or []
        )
        found.append(
            Lab(
                id=str(document.get("id", path.parent.name)),
                title=str(document.get("title", "")),
                level=str(document.get("level", "")),
                layer=str(document.get("layer", "")),
                runbooks=names,
            )
        )
    return found


def fault_links(repo: Path) -> dict[str, set[str]]:
    """Runbook name -> the chaos catalogue's faults that send the operator there."""
    catalogue = repo / "chaos" / "faults.yaml"
    links: dict[str, set[str]] = {}
    if not catalogue.is_file():
        return links
    for fault in (_load(catalogue) or {}).get("faults") or []:
        for key in ("runbook", "cluster_procedure"):
            if fault.get(key):
                links.setdefault(str(fault[key]), set()).add(str(fault["id"]))
    return links


def _meaning(text: str) -> str:
    """The first sentence of the Meaning section (else of the text after the title), on one line."""
    sections = list(_SECTION.finditer(text))
    body = text.split("\n", 1)[1] if "\n" in text else ""
    for i, match in enumerate(sections):
        if match.group("name") == "Meaning":
            end = sections[i + 1].start() if i + 1 < len(sections) else len(text)
            body = text[match.end() : end]
            break
    else:
        if sections:
            body = body[: sections[0].start() - (len(text) - len(body))]
    paragraph = " ".join(body.strip().split("\n\n", 1)[0].split())
    sentence = re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0].rstrip(":")
    return sentence.replace("|", "\\|")


def runbooks(repo: Path) -> dict[str, Runbook]:
    found = {}
    for path in sorted((repo / RUNBOOKS).glob("*.md")):
        if path.name == "README.md":
            continue
        text = path.read_text(encoding="utf-8")
        title = text.splitlines()[0].removeprefix("# ").strip() if text else path.stem
        found[path.stem] = Runbook(path.stem, title, _meaning(text))
    return found


@dataclass
class KnowledgeBase:
    runbooks: dict[str, Runbook]
    alerts: list[Alert]
    labs: list[Lab]
    problems: list[str]


def knowledge_base(repo: Path) -> KnowledgeBase:
    books = runbooks(repo)
    found_alerts = alerts(repo)
    found_labs = labs(repo)
    problems = []
    for alert in found_alerts:
        if alert.runbook is None:
            problems.append(f"alert {alert.name} ({alert.source}) has no runbook_url")
        elif alert.runbook not in books:
            problems.append(
                f"alert {alert.name} ({alert.source}) links to {RUNBOOKS}/{alert.runbook}.md, which does not exist"
            )
        else:
            books[alert.runbook].alerts.add(alert.name)
            books[alert.runbook].layers.add(alert.layer)
    for lab in found_labs:
        for name in lab.runbooks:
            if name not in books:
                problems.append(f"lab {lab.id} links to {RUNBOOKS}/{name}.md, which does not exist")
            else:
                books[name].labs.append(lab)
                books[name].layers.add(lab.layer)
    for name, faults in fault_links(repo).items():
        if name in books:
            books[name].faults |= faults
    for book in books.values():
        if not (book.alerts or book.labs or book.faults):
            problems.append(
                f"{RUNBOOKS}/{book.name}.md links to nothing: "
                "no alert's runbook_url, no lab and no chaos fault names it"
            )
        text = (repo / RUNBOOKS / f"{book.name}.md").read_text(encoding="utf-8")
        if book.alerts and (missing := [s for s in SECTIONS if f"## {s}" not in text]):
            problems.append(f"{RUNBOOKS}/{book.name}.md lacks the sections {', '.join(missing)}")
    return KnowledgeBase(books, found_alerts, found_labs, problems)


def _links(names: Iterable[str], folder: str = "") -> str:
    return ", ".join(f"[{name}]({folder}{name})" for name in sorted(names)) or "—"


def index_text(repo: Path) -> str:
    """runbooks/README.md as it should be."""
    kb = knowledge_base(repo)
    books = kb.runbooks
    lines = [
        "# Runbooks",
        "",
        "<!-- Generated by `shopfloor runbooks --write` from the runbooks, the alert rules",
        "(observability/rules, observability/generated/slo-rules.yaml), labs/*/lab.yaml and chaos/faults.yaml.",
        "Do not edit by hand: `make test` fails when this file is out of date. -->",
        "",
        "What to do when something is wrong, and where to practise it. Every alert links here",
        "(its `runbook_url`), every runbook has Meaning, Impact, Diagnosis and Mitigation, and the labs",
        "(`shopfloor lab list`, docs/labs.md) and chaos faults (docs/chaos.md) that exercise a runbook are",
        "listed with it. Record a real incident with the incident issue form and write its postmortem",
        "from docs/postmortems/TEMPLATE.md.",
        "",
        "## By alert",
        "",
        "| alert | layer | severity | runbook |",
        "|---|---|---|---|",
    ]
    seen: set[str] = set()
    for alert in sorted(kb.alerts, key=lambda a: (a.name, a.layer)):
        if alert.name in seen:
            continue
        seen.add(alert.name)
        runbook = f"[{alert.runbook}]({alert.runbook}.md)" if alert.runbook in books else "**none**"
        lines.append(f"| {alert.name} | {alert.layer} | {alert.severity} | {runbook} |")
    lines += ["", "## By symptom", "", "| symptom | runbook |", "|---|---|"]
    for book in sorted(books.values(), key=lambda b: b.symptom.lower()):
        lines.append(f"| {book.symptom} | [{book.name}]({book.name}.md) |")
    lines += ["", "## By layer", ""]
    layers = sorted({layer for book in books.values() for layer in book.layers if layer})
    for layer in layers:
        names = sorted(book.name for book in books.values() if layer in book.layers)
        lines.append(f"- **{layer}**: " + ", ".join(f"[{name}]({name}.md)" for name in names))
    lines += ["", "## Practice", "", "| runbook | alerts | labs | chaos faults |", "|---|---|---|---|"]
    for book in sorted(books.values(), key=lambda b: b.name):
        labs_cell = ", ".join(f"[{lab.id}](../labs/{lab.id}/README.md) ({lab.level})" for lab in book.labs) or "—"
        faults_cell = ", ".join(f"`{fault}`" for fault in sorted(book.faults)) or "—"
        lines.append(
            f"| [{book.name}]({book.name}.md) | {', '.join(sorted(book.alerts)) or '—'} | {labs_cell} | {faults_cell} |"
        )
    lines.append("")
    return "\n".join(lines)
