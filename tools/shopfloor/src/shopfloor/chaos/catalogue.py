"""The fault catalogue (chaos/faults.yaml), read and checked.

`parse_catalogue` checks the file itself: every field typed, nothing unknown, each `local.kind`
with its own parameters, ids unique and kebab-case, at least MIN_FAULTS faults over all three
layers. `load_catalogue` also checks what the file names elsewhere, and reports every problem at
once, each with its fault id and field:

- `cluster` is a file under chaos/mesh/, `aws` a file under chaos/aws/;
- `runbook` and `cluster_procedure` are runbooks/<name>.md;
- every `expect.degraded` journey is in observability/slos.yaml;
- every `expect.alerts[].alertname` is an alert of observability/rules/*.yaml or of the generated
  SLO rules, and a rule of that name can carry the labels the matcher asks for;
- every service a `local` entry names is a service under apps/.

The per-kind parameter models below are the contract with the local injectors
(shopfloor.chaos.inject): renaming a parameter there means renaming it here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from shopfloor.models import StrictModel

CATALOGUE_FILE = Path("chaos") / "faults.yaml"
MESH_DIR = Path("chaos") / "mesh"
AWS_DIR = Path("chaos") / "aws"
RUNBOOK_DIR = Path("runbooks")
RULE_FILES = ("observability/rules/*.yaml", "observability/generated/slo-rules.yaml")
MIN_FAULTS = 14
LAYERS = ("app", "kubernetes", "aws")

_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


class CatalogueError(Exception):
    """The catalogue is not usable; `problems` names each one with its fault id and field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{CATALOGUE_FILE}:\n" + "\n".join(f"  {problem}" for problem in problems))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the catalogue. `reference` is (kind, name) when the problem is a name
    that should exist in another part of the repository (an alert, a runbook) and does not."""

    fault: str
    field: str
    message: str
    reference: tuple[str, str] | None = None

    def __str__(self) -> str:
        if not self.fault:
            return f"{self.field}: {self.message}"
        return (
            f"faults[{self.fault}].{self.field}: {self.message}"
            if self.field
            else f"faults[{self.fault}]: {self.message}"
        )


def duration_seconds(text: str) -> float:
    """A duration as Chaos Mesh and the catalogue write it (500ms, 30s, 2m, 1h) in seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration like 30s, 2m or 1h: {text!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _duration(text: str) -> str:
    duration_seconds(text)
    return text


# --- how the local stack injects a fault: one model per kind ----------------------------------


class SignalLocal(StrictModel):
    kind: Literal["signal"]
    service: str
    signal: Literal["KILL", "STOP"]


class StopLocal(StrictModel):
    kind: Literal["stop"]
    service: str


# The fault switch's faults (shopfloor_common.faults) and the parameters each takes; every fault
# also takes duration_seconds. limit_megabytes is the local injector's own (a memory limit first).
SWITCH_PARAMETERS: dict[str, frozenset[str]] = {
    "latency": frozenset({"seconds", "ratio", "routes", "seed"}),
    "errors": frozenset({"ratio", "status", "routes", "seed"}),
    "readiness": frozenset(),
    "cpu": frozenset({"share"}),
    "memory": frozenset({"megabytes_per_second", "max_megabytes", "limit_megabytes"}),
    "hold-connections": frozenset({"count"}),
    "io-errors": frozenset(),
}


class SwitchLocal(StrictModel):
    kind: Literal["switch"]
    service: str
    fault: Literal["latency", "errors", "readiness", "cpu", "memory", "hold-connections", "io-errors"]
    seconds: float | None = Field(default=None, gt=0, le=60)
    ratio: float | None = Field(default=None, gt=0, le=1)
    routes: list[str] | None = None
    seed: int | None = None
    status: int | None = Field(default=None, ge=400, le=599)
    share: float | None = Field(default=None, gt=0, le=0.95)
    megabytes_per_second: float | None = Field(default=None, gt=0, le=1024)
    max_megabytes: int | None = Field(default=None, gt=0)
    limit_megabytes: int | None = Field(default=None, gt=0)
    count: int | None = Field(default=None, ge=1, le=1000)
    duration_seconds: float | None = Field(default=None, gt=0, le=86400)

    @model_validator(mode="after")
    def _parameters_of_the_fault(self) -> SwitchLocal:
        given = {name for name in self.model_fields_set if name not in {"kind", "service", "fault", "duration_seconds"}}
        foreign = sorted(given - SWITCH_PARAMETERS[self.fault])
        if foreign:
            allowed = ", ".join(sorted(SWITCH_PARAMETERS[self.fault])) or "none but duration_seconds"
            raise ValueError(f"the {self.fault} fault takes no {', '.join(foreign)} (it takes: {allowed})")
        return self


class ProxyLocal(StrictModel):
    kind: Literal["proxy"]
    dependency: Literal["postgres", "redis", "catalog"]
    service: str | None = None
    mode: Literal["latency", "blackhole", "reset"]
    latency_ms: int | None = Field(default=None, gt=0, le=60_000)

    @model_validator(mode="after")
    def _latency_only_for_latency(self) -> ProxyLocal:
        if self.mode == "latency" and self.latency_ms is None:
            raise ValueError("mode latency needs latency_ms")
        if self.mode != "latency" and self.latency_ms is not None:
            raise ValueError(f"latency_ms is for mode latency, not {self.mode}")
        return self


class LockLocal(StrictModel):
    kind: Literal["lock"]
    database: str
    table: str = "products"
    hot: bool | None = None
    sku: str | None = None

    @model_validator(mode="after")
    def _one_row(self) -> LockLocal:
        if (self.hot is True) == (self.sku is not None):
            raise ValueError("name the locked row with exactly one of hot: true or sku")
        return self


class EnvLocal(StrictModel):
    kind: Literal["env"]
    service: str
    env: dict[str, str] = Field(min_length=1)


class ReleaseLocal(StrictModel):
    kind: Literal["release"]
    service: str
    env: dict[str, str] = Field(min_length=1)


class StressLocal(StrictModel):
    kind: Literal["stress"]
    service: str
    cpu_workers: int | None = Field(default=None, ge=1, le=64)
    timeout_seconds: int | None = Field(default=None, gt=0)


Local = Annotated[
    SignalLocal | StopLocal | SwitchLocal | ProxyLocal | LockLocal | EnvLocal | ReleaseLocal | StressLocal,
    Field(discriminator="kind"),
]


def local_services(local: BaseModel) -> list[tuple[str, str]]:
    """(field, service) for every service a local entry names."""
    names = []
    for field in ("service", "database"):
        value = getattr(local, field, None)
        if value is not None:
            names.append((field, str(value)))
    if isinstance(local, ProxyLocal) and local.dependency == "catalog":
        names.append(("dependency", local.dependency))
    return names


# --- the fault ----------------------------------------------------------------------------------


class Expect(StrictModel):
    symptom: str = Field(min_length=1)
    # Alerts that must fire wherever the fault is injected, the local stack included.
    alerts: list[dict[str, str]]
    # Alerts only a cluster can raise (their series come from kube-state-metrics or an exporter
    # the local stack does not run): expected on a cluster, not judged locally.
    cluster_alerts: list[dict[str, str]] = Field(default_factory=list)
    degraded: list[str]

    @field_validator("alerts", "cluster_alerts")
    @classmethod
    def _matchers(cls, alerts: list[dict[str, str]]) -> list[dict[str, str]]:
        for index, matcher in enumerate(alerts):
            if not _ALERT_NAME.match(matcher.get("alertname", "")):
                raise ValueError(f"alerts[{index}] needs an alertname in CamelCase, got {matcher.get('alertname')!r}")
            bad = [name for name in matcher if not _LABEL_NAME.match(name)]
            if bad:
                raise ValueError(f"alerts[{index}]: not label names: {', '.join(bad)}")
        return alerts


class Fault(StrictModel):
    id: str
    layer: Literal["app", "kubernetes", "aws"]
    title: str = Field(min_length=1)
    breaks: str = Field(min_length=1)
    local: Local | None
    local_why_not: str | None = None
    needs: list[Literal["postgres", "redis"]] = Field(default_factory=list)
    cluster: str | None = None
    cluster_procedure: str | None = None
    aws: str | None = None
    duration: str
    expect: Expect
    runbook: str
    recovery_bound: str

    _durations = field_validator("duration", "recovery_bound")(_duration)

    @field_validator("id")
    @classmethod
    def _kebab(cls, value: str) -> str:
        if not _KEBAB.match(value):
            raise ValueError(f"an id is lower-case words joined by '-', got {value!r}")
        return value

    @field_validator("cluster")
    @classmethod
    def _mesh_file(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z0-9][a-z0-9-]*\.yaml$", value):
            raise ValueError(f"a file name under chaos/mesh/ ending in .yaml, got {value!r}")
        return value

    @field_validator("aws")
    @classmethod
    def _fis_file(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z0-9][a-z0-9-]*\.json$", value):
            raise ValueError(f"a file name under chaos/aws/ ending in .json, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Fault:
        if self.local is None and not (self.local_why_not or "").strip():
            raise ValueError("local: null needs local_why_not (why the local stack cannot inject it)")
        if self.local is not None and self.local_why_not is not None:
            raise ValueError("local_why_not is only for local: null")
        if self.layer == "aws":
            if self.aws is None or self.cluster is not None or self.cluster_procedure is not None:
                raise ValueError("an aws-layer fault names its FIS template in `aws`, and no cluster object")
        else:
            if self.aws is not None:
                raise ValueError(f"`aws` (an FIS template) is for aws-layer faults, not {self.layer}")
            if (self.cluster is None) == (self.cluster_procedure is None):
                raise ValueError("name exactly one of cluster (a Chaos Mesh object) or cluster_procedure (a runbook)")
        return self

    @property
    def duration_seconds(self) -> float:
        return duration_seconds(self.duration)

    @property
    def recovery_seconds(self) -> float:
        return duration_seconds(self.recovery_bound)


class Catalogue(StrictModel):
    faults: list[Fault]

    @model_validator(mode="after")
    def _whole(self) -> Catalogue:
        ids = [fault.id for fault in self.faults]
        twice = sorted({fault_id for fault_id in ids if ids.count(fault_id) > 1})
        if twice:
            raise ValueError(f"ids used twice: {', '.join(twice)}")
        if len(self.faults) < MIN_FAULTS:
            raise ValueError(f"{len(self.faults)} faults: the catalogue holds at least {MIN_FAULTS}")
        missing = [layer for layer in LAYERS if not any(fault.layer == layer for fault in self.faults)]
        if missing:
            raise ValueError(f"no fault in the layer(s) {', '.join(missing)}: all of {', '.join(LAYERS)} are needed")
        return self

    def fault(self, fault_id: str) -> Fault:
        found = next((fault for fault in self.faults if fault.id == fault_id), None)
        if found is None:
            raise KeyError(f"no fault {fault_id!r} in {CATALOGUE_FILE} (known: {', '.join(self.ids)})")
        return found

    @property
    def ids(self) -> list[str]:
        return [fault.id for fault in self.faults]


# --- reading --------------------------------------------------------------------------------------


def _fault_id(document: Any, index: Any) -> str:
    try:
        return str(document["faults"][index]["id"])
    except (KeyError, IndexError, TypeError):
        return f"#{index}"


def _validation_problems(document: Any, error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        location = list(item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if len(location) >= 2 and location[0] == "faults" and isinstance(location[1], int):
            fault = _fault_id(document, location[1])
            rest = location[2:]
            # A discriminated union puts the kind in the path: local.switch.ratio reads local.ratio.
            if len(rest) >= 2 and rest[0] == "local" and rest[1] in _LOCAL_KINDS:
                rest = [rest[0], *rest[2:]]
            problems.append(Problem(fault, ".".join(str(part) for part in rest), message))
        else:
            # The catalogue's own rules (ids, count, layers) are about its list of faults.
            problems.append(Problem("", ".".join(str(part) for part in location) or "faults", message))
    return problems


_LOCAL_KINDS = frozenset({"signal", "stop", "switch", "proxy", "lock", "env", "release", "stress"})


def parse_catalogue(text: str) -> Catalogue:
    """The catalogue from YAML text, checked on its own; CatalogueError naming every problem."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError([Problem("", "(file)", f"not valid YAML: {exc}")]) from None
    try:
        return Catalogue.model_validate(document)
    except ValidationError as exc:
        raise CatalogueError(_validation_problems(document, exc)) from None


def read_catalogue(repo: Path) -> Catalogue:
    """chaos/faults.yaml parsed and checked on its own (no look at the files it names)."""
    path = repo / CATALOGUE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError([Problem("", "(file)", f"cannot read {path}: {exc.strerror}")]) from None
    return parse_catalogue(text)


@dataclass(frozen=True)
class AlertRule:
    name: str
    labels: Mapping[str, str]  # the labels the rule sets itself (templated ones left out)
    source: str


def alert_rules(repo: Path) -> dict[str, list[AlertRule]]:
    """Every alerting rule of observability/rules/*.yaml and the generated SLO rules, by name."""
    rules: dict[str, list[AlertRule]] = {}
    for pattern in RULE_FILES:
        for path in sorted(repo.glob(pattern)):
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for group in document.get("groups") or []:
                for rule in group.get("rules") or []:
                    if "alert" not in rule:
                        continue
                    labels = {
                        str(key): str(value)
                        for key, value in (rule.get("labels") or {}).items()
                        if "{{" not in str(value)
                    }
                    source = str(path.relative_to(repo))
                    rules.setdefault(str(rule["alert"]), []).append(AlertRule(str(rule["alert"]), labels, source))
    return rules


def _alert_problems(fault: Fault, rules: Mapping[str, list[AlertRule]]) -> Iterator[Problem]:
    matchers = [("alerts", m) for m in fault.expect.alerts] + [
        ("cluster_alerts", m) for m in fault.expect.cluster_alerts
    ]
    for index, (field, matcher) in enumerate(matchers):
        name = matcher["alertname"]
        where = f"expect.{field}[{index if field == 'alerts' else index - len(fault.expect.alerts)}]"
        candidates = rules.get(name)
        if not candidates:
            yield Problem(
                fault.id,
                where,
                f"no alert {name} in {' or '.join(RULE_FILES)}",
                reference=("alert", name),
            )
            continue
        wanted = {key: value for key, value in matcher.items() if key != "alertname"}

        def can_carry(rule: AlertRule, wanted: Mapping[str, str] = wanted) -> bool:
            return all(rule.labels.get(key, value) == value for key, value in wanted.items())

        if not any(can_carry(rule) for rule in candidates):
            asked = ", ".join(f"{key}={value}" for key, value in wanted.items())
            offered = sorted(
                {f"{key}={rule.labels[key]}" for rule in candidates for key in wanted if key in rule.labels}
            )
            yield Problem(fault.id, where, f"no {name} rule can carry {asked} (the rules set {', '.join(offered)})")


def check_references(repo: Path, catalogue: Catalogue) -> list[Problem]:
    """What the catalogue names outside itself and does not exist (module docstring)."""
    from shopfloor.local.discovery import discover_services
    from shopfloor.observe.slos import SloError, load_slos

    problems: list[Problem] = []
    try:
        journeys = {journey.name for journey in load_slos(repo).journeys}
    except SloError as exc:
        problems.append(Problem("", "observability/slos.yaml", f"cannot check expect.degraded: {exc}"))
        journeys = None
    services = {service.name for service in discover_services(repo)}
    rules = alert_rules(repo)
    for fault in catalogue.faults:
        if fault.cluster is not None and not (repo / MESH_DIR / fault.cluster).is_file():
            problems.append(Problem(fault.id, "cluster", f"no file {MESH_DIR / fault.cluster}"))
        if fault.aws is not None and not (repo / AWS_DIR / fault.aws).is_file():
            problems.append(Problem(fault.id, "aws", f"no file {AWS_DIR / fault.aws}"))
        for field, name in (("runbook", fault.runbook), ("cluster_procedure", fault.cluster_procedure)):
            if name is not None and not (repo / RUNBOOK_DIR / f"{name}.md").is_file():
                problems.append(
                    Problem(fault.id, field, f"no runbook {RUNBOOK_DIR}/{name}.md", reference=("runbook", name))
                )
        if journeys is not None:
            for journey in fault.expect.degraded:
                if journey not in journeys:
                    problems.append(
                        Problem(
                            fault.id,
                            "expect.degraded",
                            f"no journey {journey!r} in observability/slos.yaml ({', '.join(sorted(journeys))})",
                        )
                    )
        problems.extend(_alert_problems(fault, rules))
        if fault.local is not None:
            for field, service in local_services(fault.local):
                if service not in services:
                    problems.append(
                        Problem(
                            fault.id,
                            f"local.{field}",
                            f"no service {service!r} under apps/ ({', '.join(sorted(services))})",
                        )
                    )
    return problems


def load_catalogue(repo: Path) -> Catalogue:
    """chaos/faults.yaml, checked on its own and against the files it names; CatalogueError
    naming every problem."""
    catalogue = read_catalogue(repo)
    problems = check_references(repo, catalogue)
    if problems:
        raise CatalogueError(problems)
    return catalogue


def unresolved_references(problems: Iterable[Problem]) -> set[tuple[str, str]]:
    """(kind, name) of the alerts and runbooks the problems say are missing."""
    return {problem.reference for problem in problems if problem.reference is not None}
