"""Checks on the hand-written alert rules (observability/rules), their promtool unit tests
(observability/tests) and their runbooks (runbooks/): each check returns a list of problems, one
sentence each, empty when all is well. The tests run them over the repository and over broken
copies of it, to show each one can fail.

The conventions they hold the files to are observability/README.md's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = "observability/rules"
# The SLO burn-rate rules, generated from observability/slos.yaml (both profiles): held to the same
# conventions and the same promtool coverage as the hand-written ones.
GENERATED_RULES = "observability/generated"
RULE_TESTS = "observability/tests"
RUNBOOKS = "runbooks"

LAYERS = ("app", "kubernetes", "data", "aws")
SEVERITIES = ("critical", "warning", "info")
RUNBOOK_SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation")
RUNBOOK_URL = "https://github.com/shopfloor/shopfloor/blob/main/runbooks/{name}.md"
ALERT_NAME = re.compile(r"^[A-Z][a-z0-9]*(?:[A-Z]+[a-z0-9]*)*$")


@dataclass(frozen=True)
class Alert:
    name: str
    rule_file: Path
    rule: dict[str, Any]

    @property
    def labels(self) -> dict[str, Any]:
        return dict(self.rule.get("labels") or {})

    @property
    def annotations(self) -> dict[str, Any]:
        return dict(self.rule.get("annotations") or {})


def layer_rule_files(root: Path) -> list[Path]:
    return sorted((root / RULES).glob("*.yaml"))


def rule_files(root: Path) -> list[Path]:
    return layer_rule_files(root) + sorted((root / GENERATED_RULES).glob("slo-rules*.yaml"))


def layer_of(rule_file: Path) -> str:
    """The layer a rule file's alerts belong to: its name, or app for the SLO rules."""
    return rule_file.stem if rule_file.parent.name == Path(RULES).name else "app"


def promtool_test_files(root: Path) -> list[Path]:
    return sorted((root / RULE_TESTS).glob("*.test.yaml"))


def load_alerts(root: Path) -> list[Alert]:
    alerts = []
    for path in rule_files(root):
        document = yaml.load(path.read_text(), Loader=yaml.CSafeLoader) or {}
        for group in document.get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    alerts.append(Alert(str(rule["alert"]), path, rule))
    return alerts


# --- rule files and alerts -----------------------------------------------------------------------


def check_rule_files(root: Path) -> list[str]:
    """One rule file per layer, named after it, each with its promtool test file; alert names
    CamelCase and unique across the files."""
    problems = []
    names = [path.stem for path in layer_rule_files(root)]
    if sorted(names) != sorted(LAYERS):
        problems.append(f"{RULES} holds {sorted(names)}; one file per layer is expected: {sorted(LAYERS)}")
    for path in rule_files(root):
        expected = root / RULE_TESTS / f"{path.stem}.test.yaml"
        if not expected.is_file():
            problems.append(f"{path.name} has no promtool test file {expected.relative_to(root)}")
    seen: dict[str, Path] = {}
    for alert in load_alerts(root):
        if not ALERT_NAME.fullmatch(alert.name):
            problems.append(f"{alert.name} ({alert.rule_file.name}): alert names are CamelCase")
        # A burn-rate alert is one name over several SLOs and windows (labels tell them apart); a
        # hand-written alert is defined once, in one place.
        earlier = seen.get(alert.name)
        generated = Path(GENERATED_RULES).name
        both_generated = earlier is not None and earlier.parent.name == alert.rule_file.parent.name == generated
        if earlier is not None and not both_generated:
            problems.append(f"{alert.name} is defined twice ({earlier.name}, {alert.rule_file.name})")
        seen[alert.name] = alert.rule_file
    return problems


def check_alert(root: Path, alert: Alert) -> list[str]:
    """The labels and annotations every alert carries, and a runbook in the expected form."""
    where = f"{alert.name} ({alert.rule_file.name})"
    labels, annotations = alert.labels, alert.annotations
    problems = []
    if labels.get("severity") not in SEVERITIES:
        problems.append(f"{where}: label severity is {labels.get('severity')!r}, not one of {list(SEVERITIES)}")
    if labels.get("layer") not in LAYERS:
        problems.append(f"{where}: label layer is {labels.get('layer')!r}, not one of {list(LAYERS)}")
    elif labels["layer"] != layer_of(alert.rule_file):
        problems.append(f"{where}: label layer is {labels['layer']!r} in the {alert.rule_file.stem} file")
    for annotation in ("summary", "description"):
        if not str(annotations.get(annotation, "")).strip():
            problems.append(f"{where}: annotation {annotation} is missing or empty")
    url = annotations.get("runbook_url")
    expected = RUNBOOK_URL.format(name=alert.name)
    if url != expected:
        problems.append(f"{where}: runbook_url is {url!r}, not {expected!r}")
    runbook = root / RUNBOOKS / f"{alert.name}.md"
    if not runbook.is_file():
        problems.append(f"{where}: {runbook.relative_to(root)} does not exist")
    else:
        problems += check_runbook(runbook, alert.name)
    return problems


# --- runbooks ------------------------------------------------------------------------------------

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def headings(markdown: str, max_level: int = 2) -> list[str]:
    """The headings up to `max_level` (as written: `## Impact`), outside fenced code blocks, where
    a shell comment is not a heading."""
    found = []
    fenced = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match and len(match.group(1)) <= max_level:
            found.append(f"{match.group(1)} {match.group(2)}")
    return found


def check_runbook(path: Path, name: str) -> list[str]:
    """`# <AlertName>`, then exactly the four sections in order (deeper headings are free)."""
    expected = [f"# {name}", *(f"## {section}" for section in RUNBOOK_SECTIONS)]
    found = headings(path.read_text())
    if found != expected:
        return [f"{path.name}: headings are {found}, expected {expected}"]
    return []


def check_orphan_runbooks(root: Path) -> list[str]:
    """A runbook named like an alert (CamelCase) belongs to an alert that links to it. Scenario
    runbooks (rollback.md) are lower case, and README.md is the index (shopfloor runbooks)."""
    linked = {alert.annotations.get("runbook_url") for alert in load_alerts(root)}
    return [
        f"{path.relative_to(root)} is named like an alert but no alert links to it"
        for path in sorted((root / RUNBOOKS).glob("*.md"))
        if path.name != "README.md"
        and ALERT_NAME.fullmatch(path.stem)
        and RUNBOOK_URL.format(name=path.stem) not in linked
    ]


# --- promtool test coverage ----------------------------------------------------------------------


def _covered_rule_files(test_file: Path) -> set[Path]:
    document = yaml.load(test_file.read_text(), Loader=yaml.CSafeLoader) or {}
    return {(test_file.parent / name).resolve() for name in document.get("rule_files") or []}


def promtool_cases(test_file: Path) -> list[tuple[str, bool]]:
    """(alertname, fires) for every alert_rule_test of a promtool test file: fires is whether the
    case expects alerts (a non-empty exp_alerts)."""
    document = yaml.load(test_file.read_text(), Loader=yaml.CSafeLoader) or {}
    return [
        (str(case["alertname"]), bool(case.get("exp_alerts")))
        for test in document.get("tests") or []
        for case in test.get("alert_rule_test") or []
    ]


def check_coverage(root: Path) -> list[str]:
    """Every alert has a case where it fires and one where it does not, in a test file that
    loads the alert's rule file."""
    firing: set[tuple[str, Path]] = set()
    quiet: set[tuple[str, Path]] = set()
    for test_file in promtool_test_files(root):
        for rule_file in _covered_rule_files(test_file):
            for name, fires in promtool_cases(test_file):
                (firing if fires else quiet).add((name, rule_file))
    problems = []
    for key in dict.fromkeys((alert.name, alert.rule_file.resolve()) for alert in load_alerts(root)):
        alert_name = key[0]
        if key not in firing:
            problems.append(f"{alert_name} ({key[1].name}): no promtool case where it fires (a non-empty exp_alerts)")
        if key not in quiet:
            problems.append(f"{alert_name} ({key[1].name}): no promtool case where it does not fire (exp_alerts: [])")
    return problems


def check_all(root: Path) -> list[str]:
    problems = check_rule_files(root) + check_coverage(root) + check_orphan_runbooks(root)
    for alert in load_alerts(root):
        problems += check_alert(root, alert)
    return problems


# --- metric names in expressions -----------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"})
_KEYWORDS |= {"group_left", "group_right", "inf", "nan", "Inf", "NaN"}


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, label names or keywords)."""
    text = _STRING.sub('""', expression)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    return {name for name in _IDENTIFIER.findall(text) if name not in _KEYWORDS}


def check_metrics_exist(alerts: Iterable[Alert], exported: set[str]) -> list[str]:
    return [
        f"{alert.name}: {name} is not a metric the targets export"
        for alert in alerts
        for name in sorted(metric_names(str(alert.rule["expr"])) - exported)
    ]


# --- promtool ------------------------------------------------------------------------------------


def promtool(promtool_binary: str, *args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool_binary, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def copy_tree(root: Path, destination: Path) -> Path:
    """A copy of the rules, their tests and the runbooks, laid out as in the repository."""
    for folder in (RULES, GENERATED_RULES, RULE_TESTS, RUNBOOKS):
        shutil.copytree(root / folder, destination / folder)
    return destination
