"""The lab format: labs/<id>/README.md (the story, objectives, steps) and labs/<id>/lab.yaml.

    id: <the folder's name>
    title: one line
    level: basic | intermediate | advanced
    layer: application | kubernetes | aws
    estimated_minutes: int
    runs_on: local-stack | offline | kind | aws
    faults: [ids of chaos/faults.yaml]
    alerts: [names of alerts expected to fire]
    runbooks: [runbooks/X.md]
    ground_truth: {layer, component, cause}       cause: a category of labs/causes.yaml
    hints: [{text, cost}]                         progressive; each costs `cost` points when shown
    solution: {steps: [text], ...}                the reference solution (kind-specific keys too)
    tolerate: bool                                the lesson is to live with the fault: verify refuses
                                                  a "fix" that removed it
    offline: {...}                                runs_on: offline (shopfloor/labs/offline.py reads it)
    verify: {...}                                 runs_on: local-stack (shopfloor/labs/checks.py)
    stack: {...}                                  runs_on: local-stack (shopfloor/labs/supervisor.py)

`load_labs` reads them all; every problem is an error naming the file and the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LABS_DIR = "labs"
CAUSES_FILE = "labs/causes.yaml"
LEVELS = ("basic", "intermediate", "advanced")
LAYERS = ("application", "kubernetes", "aws")
RUNS_ON = ("local-stack", "offline", "kind", "aws")
REQUIRED = (
    "id",
    "title",
    "level",
    "layer",
    "estimated_minutes",
    "runs_on",
    "faults",
    "alerts",
    "runbooks",
    "ground_truth",
    "hints",
    "solution",
    "tolerate",
)
OPTIONAL = ("offline", "verify", "stack")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
VERIFY_KEYS = {
    "slis",
    "extra_latency",
    "load_seconds",
    "fault_active",
    "consistency",
    "no_lock",
    "deploy",
    "postmortem",
    "incident_report",
}
STACK_KEYS = {"history", "deliver", "fault_parameters", "release", "traffic", "needs"}
DELIVERIES = ("runtime", "code", "release")
JOURNEYS = ("browse-products", "product-page", "checkout")  # those verify's load knows how to make


class LabError(Exception):
    """A lab file is malformed or names something that does not exist; the message says where."""


@dataclass(frozen=True)
class Hint:
    text: str
    cost: int


@dataclass(frozen=True)
class GroundTruth:
    layer: str
    component: str
    cause: str


@dataclass
class Lab:
    id: str
    title: str
    level: str
    layer: str
    estimated_minutes: int
    runs_on: str
    faults: list[str]
    alerts: list[str]
    runbooks: list[str]
    ground_truth: GroundTruth
    hints: list[Hint]
    solution: dict[str, Any]
    tolerate: bool
    directory: Path
    offline: dict[str, Any] | None = None
    verify: dict[str, Any] = field(default_factory=dict)
    stack: dict[str, Any] = field(default_factory=dict)

    @property
    def readme(self) -> Path:
        return self.directory / "README.md"

    @property
    def max_points(self) -> int:
        return MAX_POINTS


MAX_POINTS = 100


def labs_root(repo: Path) -> Path:
    """Where a learner's lab state lives: $SHOPFLOOR_LABS_DIR (the tests' own folder), else var/labs."""
    explicit = os.environ.get("SHOPFLOOR_LABS_DIR")
    return Path(explicit).resolve() if explicit else repo / "var" / "labs"


def lab_folder(repo: Path, lab_id: str) -> Path:
    """A lab's own files (workspace, incident report, postmortem): var/labs/<id>."""
    return labs_root(repo) / lab_id


def normalise_component(text: str) -> str:
    """How a component name is compared: case, spaces, underscores and a -service suffix do not count."""
    value = re.sub(r"[\s_]+", "-", text.strip().lower())
    return value.removesuffix("-service")


def load_causes(repo: Path) -> dict[str, str]:
    path = repo / CAUSES_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LabError(f"{CAUSES_FILE}: cannot read it ({exc})") from None
    causes = data.get("causes") if isinstance(data, dict) else None
    if not isinstance(causes, dict) or not causes:
        raise LabError(f"{CAUSES_FILE}: expected a mapping `causes:` of category -> description")
    return {str(k): str(v) for k, v in causes.items()}


def catalogue_faults(repo: Path) -> dict[str, dict[str, Any]]:
    """chaos/faults.yaml's faults by id, as plain mappings (the labs need only a few fields)."""
    path = repo / "chaos" / "faults.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LabError(f"chaos/faults.yaml: cannot read it ({exc})") from None
    return {str(f["id"]): f for f in data.get("faults", []) if isinstance(f, dict) and "id" in f}


def defined_alerts(repo: Path) -> set[str]:
    """The alert names the repo's rule files define (hand-written and generated)."""
    names: set[str] = set()
    for path in sorted((repo / "observability").rglob("*.yaml")):
        names.update(re.findall(r"^\s*-?\s*alert:\s*([A-Za-z0-9_]+)", path.read_text(encoding="utf-8"), re.MULTILINE))
    return names


def _string_list(where: str, value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise LabError(f"{where}: {key} must be a list of strings")
    return list(value)


def parse_lab(
    directory: Path,
    data: Any,
    *,
    causes: Mapping[str, str],
    faults: Mapping[str, Any],
    alerts: set[str] | None,
    repo: Path,
) -> Lab:
    """One lab from its parsed lab.yaml; LabError naming the file and key on the first problem."""
    where = f"{LABS_DIR}/{directory.name}/lab.yaml"
    if not isinstance(data, dict):
        raise LabError(f"{where}: expected a mapping at the top")
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise LabError(f"{where}: missing key(s): {', '.join(missing)}")
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise LabError(f"{where}: unknown key(s): {', '.join(unknown)} (allowed: {', '.join(REQUIRED + OPTIONAL)})")
    if data["id"] != directory.name or not isinstance(data["id"], str) or not _ID.match(data["id"]):
        raise LabError(f"{where}: id must be the folder's name ({directory.name!r}, kebab-case), got {data['id']!r}")
    if not isinstance(data["title"], str) or not data["title"].strip():
        raise LabError(f"{where}: title must be a non-empty string")
    for key, allowed in (("level", LEVELS), ("layer", LAYERS), ("runs_on", RUNS_ON)):
        if data[key] not in allowed:
            raise LabError(f"{where}: {key} must be one of {', '.join(allowed)}, got {data[key]!r}")
    minutes = data["estimated_minutes"]
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 600:
        raise LabError(f"{where}: estimated_minutes must be a whole number of minutes (1-600), got {minutes!r}")
    lab_faults = _string_list(where, data["faults"], "faults")
    for fault in lab_faults:
        if fault not in faults:
            raise LabError(f"{where}: faults: {fault!r} is not in chaos/faults.yaml")
    lab_alerts = _string_list(where, data["alerts"], "alerts")
    if alerts is not None:
        for alert in lab_alerts:
            if alert not in alerts:
                raise LabError(f"{where}: alerts: {alert!r} is not an alert of observability/ (no `alert: {alert}`)")
    runbooks = _string_list(where, data["runbooks"], "runbooks")
    for runbook in runbooks:
        if not runbook.startswith("runbooks/") or not runbook.endswith(".md") or not (repo / runbook).is_file():
            raise LabError(f"{where}: runbooks: {runbook!r} is not a file runbooks/<name>.md")
    truth = data["ground_truth"]
    if not isinstance(truth, dict) or set(truth) != {"layer", "component", "cause"}:
        raise LabError(f"{where}: ground_truth must have exactly layer, component and cause")
    if truth["layer"] not in LAYERS:
        raise LabError(f"{where}: ground_truth.layer must be one of {', '.join(LAYERS)}, got {truth['layer']!r}")
    if not isinstance(truth["component"], str) or not truth["component"].strip():
        raise LabError(f"{where}: ground_truth.component must be a non-empty string")
    if truth["cause"] not in causes:
        raise LabError(f"{where}: ground_truth.cause {truth['cause']!r} is not a category of {CAUSES_FILE}")
    hints = data["hints"]
    if not isinstance(hints, list) or not hints:
        raise LabError(f"{where}: hints must be a non-empty list of {{text, cost}}")
    parsed_hints = []
    for number, hint in enumerate(hints, 1):
        if not isinstance(hint, dict) or set(hint) != {"text", "cost"}:
            raise LabError(f"{where}: hints[{number}] must have exactly text and cost")
        cost = hint["cost"]
        if not isinstance(hint["text"], str) or not hint["text"].strip():
            raise LabError(f"{where}: hints[{number}].text must be a non-empty string")
        if not isinstance(cost, int) or isinstance(cost, bool) or not 0 <= cost <= MAX_POINTS:
            raise LabError(f"{where}: hints[{number}].cost must be a whole number 0-{MAX_POINTS}, got {cost!r}")
        parsed_hints.append(Hint(hint["text"].strip(), cost))
    if sum(h.cost for h in parsed_hints) > MAX_POINTS // 2:
        raise LabError(
            f"{where}: hints cost {sum(h.cost for h in parsed_hints)} points in all; at most {MAX_POINTS // 2}"
        )
    solution = data["solution"]
    if not isinstance(solution, dict) or "steps" not in solution:
        raise LabError(f"{where}: solution must be a mapping with steps")
    _string_list(where, solution["steps"], "solution.steps")
    if not isinstance(data["tolerate"], bool):
        raise LabError(f"{where}: tolerate must be true or false")
    offline = data.get("offline")
    if data["runs_on"] == "offline":
        if not isinstance(offline, dict):
            raise LabError(f"{where}: runs_on: offline needs an `offline:` mapping")
        problems = offline_problems(offline)
        if problems:
            raise LabError(f"{where}: offline: " + "; ".join(problems))
    elif offline is not None:
        raise LabError(f"{where}: offline: only for runs_on: offline")
    verify = data.get("verify") or {}
    stack = data.get("stack") or {}
    if data["runs_on"] == "local-stack":
        _check_stack_lab(where, verify, stack, lab_faults, faults, data["tolerate"])
    elif data.get("verify") is not None or data.get("stack") is not None:
        raise LabError(f"{where}: verify and stack are for runs_on: local-stack")
    readme = directory / "README.md"
    if not readme.is_file():
        raise LabError(f"{LABS_DIR}/{directory.name}/README.md is missing (the story, objectives and steps)")
    return Lab(
        id=data["id"],
        title=data["title"].strip(),
        level=data["level"],
        layer=data["layer"],
        estimated_minutes=minutes,
        runs_on=data["runs_on"],
        faults=lab_faults,
        alerts=lab_alerts,
        runbooks=runbooks,
        ground_truth=GroundTruth(truth["layer"], truth["component"].strip(), truth["cause"]),
        hints=parsed_hints,
        solution=solution,
        tolerate=data["tolerate"],
        directory=directory,
        offline=offline,
        verify=verify,
        stack=stack,
    )


def offline_problems(section: Mapping[str, Any]) -> list[str]:
    """kb15's validator of the `offline:` section, when its engine is installed; [] otherwise
    (the lab then lists as needing that engine)."""
    engine = offline_engine()
    if engine is None:
        return []
    problems: list[str] = engine.validate_section(section)
    return problems


def offline_engine() -> Any:
    """shopfloor.labs.offline (written with the offline labs), or None while it is not there."""
    try:
        from shopfloor.labs import offline  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    return offline


def _check_stack_lab(
    where: str,
    verify: Any,
    stack: Any,
    lab_faults: Sequence[str],
    faults: Mapping[str, Any],
    tolerate: bool,
) -> None:
    if not isinstance(verify, dict) or not verify:
        raise LabError(f"{where}: a local-stack lab needs `verify:` (what its end state must be)")
    unknown = sorted(set(verify) - VERIFY_KEYS)
    if unknown:
        raise LabError(
            f"{where}: verify: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(VERIFY_KEYS))})"
        )
    if "slis" in verify:
        _string_list(where, verify["slis"], "verify.slis")
        unknown_journeys = sorted(set(verify["slis"]) - set(JOURNEYS))
        if unknown_journeys:
            raise LabError(f"{where}: verify.slis: {', '.join(unknown_journeys)} (journeys: {', '.join(JOURNEYS)})")
    latency = verify.get("extra_latency")
    if latency is not None and (not isinstance(latency, dict) or not {"service", "path"} <= set(latency)):
        raise LabError(f"{where}: verify.extra_latency needs service and path (and max_ms)")
    if tolerate and not verify.get("fault_active"):
        raise LabError(f"{where}: tolerate: true needs verify.fault_active: true (the fault must still be there)")
    deploy = verify.get("deploy", {})
    if not isinstance(deploy, dict) or not all(isinstance(v, dict) for v in deploy.values()):
        raise LabError(f"{where}: verify.deploy must map service -> {{SETTING: value or null}}")
    if not isinstance(stack, dict):
        raise LabError(f"{where}: stack must be a mapping")
    unknown = sorted(set(stack) - STACK_KEYS)
    if unknown:
        raise LabError(f"{where}: stack: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(STACK_KEYS))})")
    if stack.get("deliver", "runtime") not in DELIVERIES:
        raise LabError(f"{where}: stack.deliver must be one of {', '.join(DELIVERIES)}")
    for entry in stack.get("history", []):
        if not isinstance(entry, dict) or set(entry) != {"service", "set", "message"}:
            raise LabError(f"{where}: stack.history entries need exactly service, set and message")
    for fault_id in stack.get("fault_parameters", {}):
        if fault_id not in lab_faults:
            raise LabError(f"{where}: stack.fault_parameters: {fault_id!r} is not one of the lab's faults")
    for fault_id in lab_faults:
        if faults[fault_id].get("local") is None:
            raise LabError(f"{where}: fault {fault_id!r} has no local injection; the lab cannot run on the local stack")


def load_labs(repo: Path, *, check_alerts: bool = True) -> list[Lab]:
    """Every lab of labs/, by level then id; LabError on the first malformed one."""
    root = repo / LABS_DIR
    causes = load_causes(repo)
    faults = catalogue_faults(repo)
    alerts = defined_alerts(repo) if check_alerts else None
    labs = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        path = directory / "lab.yaml"
        if not path.is_file():
            raise LabError(f"{LABS_DIR}/{directory.name}/: no lab.yaml")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise LabError(f"{LABS_DIR}/{directory.name}/lab.yaml: not YAML ({exc})") from None
        labs.append(parse_lab(directory, data, causes=causes, faults=faults, alerts=alerts, repo=repo))
    return sorted(labs, key=lambda lab: (LEVELS.index(lab.level), LAYERS.index(lab.layer), lab.id))


def find_lab(repo: Path, lab_id: str) -> Lab:
    labs = load_labs(repo)
    for lab in labs:
        if lab.id == lab_id:
            return lab
    raise LabError(f"no lab {lab_id!r} (labs: {', '.join(lab.id for lab in labs)})")
