"""Checks on the Chaos Mesh objects (chaos/mesh/): each function returns problems, one sentence
each, empty when all is well, so the tests can also feed them broken copies.

Strict validation against Chaos Mesh's own CRDs is tests/crdkit.py's. What it cannot see is
checked here: that each object is the one its catalogue entry names (fault label, namespace,
duration), and that its selectors and references fit the manifests the service chart renders in
the environments the object is meant for (annotation shopfloor.io/environments): a selector
must select at least one pod, containerNames must be containers of those pods, an IOChaos volume
path a mount of theirs, an HTTPChaos port one they listen on, a NetworkChaos external target a
Service of the environment, and a Workflow task's Secret references ones the shop's pods use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shopfloor.chaos.catalogue import Catalogue, duration_seconds
from shopfloor.delivery.render import NAMESPACE, Manifest, RenderedEnvironment
from tests.charts.chartkit import containers, pod_labels, pod_spec

REPO = Path(__file__).resolve().parents[2]
MESH_DIR = REPO / "chaos" / "mesh"
API_VERSION = "chaos-mesh.org/v1alpha1"
FAULT_LABEL = "shopfloor.io/fault"
# What a Workflow's task pods are called (app.kubernetes.io/name), for NetworkPolicies to admit.
TASK_NAME = "chaos-task"
ENVIRONMENTS_ANNOTATION = "shopfloor.io/environments"
KNOWN_ENVIRONMENTS = ("local", "dev", "staging", "prod")
# The selector fields the objects may use: the ones the checks below can evaluate exactly.
SELECTOR_FIELDS = frozenset({"namespaces", "labelSelectors"})
# The Workflow template types that embed a chaos spec, by their spec's key.
EMBEDDED_SPECS = {
    "PodChaos": "podChaos",
    "NetworkChaos": "networkChaos",
    "IOChaos": "ioChaos",
    "StressChaos": "stressChaos",
    "DNSChaos": "dnsChaos",
    "HTTPChaos": "httpChaos",
    "TimeChaos": "timeChaos",
}
_MEMORY = re.compile(r"^(\d+)(Ki|Mi|Gi|KiB|MiB|GiB|KB|MB|GB)?$")
_MEMORY_UNITS = {
    None: 1,
    "Ki": 1024,
    "KiB": 1024,
    "Mi": 1024**2,
    "MiB": 1024**2,
    "Gi": 1024**3,
    "GiB": 1024**3,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
}


@dataclass(frozen=True)
class MeshObject:
    path: Path
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.body.get("metadata", {}).get("name", ""))

    @property
    def where(self) -> str:
        return f"{self.path.name} ({self.kind} {self.name})"

    @property
    def environments(self) -> list[str]:
        text = str(self.body.get("metadata", {}).get("annotations", {}).get(ENVIRONMENTS_ANNOTATION, ""))
        return [part.strip() for part in text.split(",") if part.strip()]


def load_objects(folder: Path = MESH_DIR) -> list[MeshObject]:
    """Every document of every YAML file under the folder (schedules/ included)."""
    objects = []
    for path in sorted(folder.rglob("*.yaml")):
        for body in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if body is not None:
                objects.append(MeshObject(path, body))
    return objects


def memory_bytes(text: str) -> int:
    match = _MEMORY.match(str(text))
    if not match:
        raise ValueError(f"not a memory size: {text!r}")
    return int(match.group(1)) * _MEMORY_UNITS[match.group(2)]


# --- the object against its catalogue entry ------------------------------------------------------


def chaos_specs(body: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(where, kind, spec) of every chaos spec in an object: its own, a Schedule's, a Workflow's nodes'."""
    kind = str(body.get("kind", ""))
    spec = body.get("spec") or {}
    if kind in EMBEDDED_SPECS:
        yield "spec", kind, spec
    elif kind == "Schedule":
        inner = str(spec.get("type", ""))
        key = EMBEDDED_SPECS.get(inner)
        if key is not None and key in spec:
            yield f"spec.{key}", inner, spec[key]
    elif kind == "Workflow":
        for template in spec.get("templates") or []:
            key = EMBEDDED_SPECS.get(str(template.get("templateType")))
            if key is not None and key in template:
                yield f"templates.{template.get('name')}.{key}", str(template["templateType"]), template[key]


def tasks(body: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(template name, task) of every Task node of a Workflow."""
    if body.get("kind") != "Workflow":
        return
    for template in (body.get("spec") or {}).get("templates") or []:
        if template.get("templateType") == "Task":
            yield str(template.get("name")), template.get("task") or {}


def _env_value(container: Mapping[str, Any], name: str) -> str | None:
    for variable in container.get("env") or []:
        if variable.get("name") == name and "value" in variable:
            return str(variable["value"])
    return None


def held_seconds(body: Mapping[str, Any]) -> list[float]:
    """How long the object holds its fault: `spec.duration` of a chaos kind; for a Workflow, the
    deadline of each Suspend node (the hold) and each task's HOLD_SECONDS (what it asks for)."""
    if body.get("kind") == "Workflow":
        held = [
            duration_seconds(str(template["deadline"]))
            for template in (body.get("spec") or {}).get("templates") or []
            if template.get("templateType") == "Suspend" and "deadline" in template
        ]
        for _, task in tasks(body):
            value = _env_value(task.get("container") or {}, "HOLD_SECONDS")
            if value is not None:
                held.append(float(value))
        return held
    duration = (body.get("spec") or {}).get("duration")
    return [duration_seconds(str(duration))] if duration is not None else []


def check_against_catalogue(catalogue: Catalogue, objects: list[MeshObject], folder: Path = MESH_DIR) -> list[str]:
    """Each file the catalogue names holds exactly one object, labelled with the fault, in the
    shop's namespace, holding the fault exactly the catalogue's duration; every file directly
    under chaos/mesh/ is named by the catalogue."""
    problems = []
    by_file: dict[str, list[MeshObject]] = {}
    for mesh_object in objects:
        if mesh_object.path.parent == folder:
            by_file.setdefault(mesh_object.path.name, []).append(mesh_object)
    named = {fault.cluster: fault for fault in catalogue.faults if fault.cluster is not None}
    for file in sorted(set(by_file) - set(named)):
        problems.append(f"{file}: no fault in chaos/faults.yaml names it (cluster: {file})")
    for file, fault in sorted(named.items()):
        found = by_file.get(file, [])
        if len(found) != 1:
            problems.append(f"{file}: holds {len(found)} objects; the catalogue's {fault.id} needs exactly one")
            continue
        mesh_object = found[0]
        metadata = mesh_object.body.get("metadata") or {}
        if (metadata.get("labels") or {}).get(FAULT_LABEL) != fault.id:
            problems.append(f"{mesh_object.where}: label {FAULT_LABEL} is not {fault.id}")
        held = held_seconds(mesh_object.body)
        if not held:
            problems.append(f"{mesh_object.where}: no duration (the catalogue holds {fault.id} {fault.duration})")
        for seconds in held:
            if seconds != fault.duration_seconds:
                problems.append(
                    f"{mesh_object.where}: holds the fault {seconds:g}s, "
                    f"the catalogue says {fault.id} lasts {fault.duration}"
                )
    return problems


def check_metadata(objects: list[MeshObject]) -> list[str]:
    """The right API, the shop's namespace, and environments the checks know."""
    problems = []
    for mesh_object in objects:
        metadata = mesh_object.body.get("metadata") or {}
        if mesh_object.body.get("apiVersion") != API_VERSION:
            problems.append(f"{mesh_object.where}: apiVersion is not {API_VERSION}")
        if metadata.get("namespace") != NAMESPACE:
            problems.append(f"{mesh_object.where}: namespace is not {NAMESPACE}")
        if not mesh_object.environments:
            problems.append(f"{mesh_object.where}: no {ENVIRONMENTS_ANNOTATION} annotation")
        for environment in mesh_object.environments:
            if environment not in KNOWN_ENVIRONMENTS:
                problems.append(f"{mesh_object.where}: unknown environment {environment!r}")
    return problems


# --- the object against the rendered manifests ---------------------------------------------------


def pod_templates(env: RenderedEnvironment) -> list[Manifest]:
    """The long-running pods of the environment (Deployments, StatefulSets)."""
    return [manifest for manifest in env.manifests if manifest.kind in {"Deployment", "StatefulSet"}]


def selected(selector: Mapping[str, Any], env: RenderedEnvironment) -> list[Manifest]:
    namespaces = selector.get("namespaces") or [env.namespace]
    labels = selector.get("labelSelectors") or {}
    if env.namespace not in namespaces:
        return []
    return [
        manifest
        for manifest in pod_templates(env)
        if all(pod_labels(manifest).get(key) == value for key, value in labels.items())
    ]


def _container(manifest: Manifest, name: str) -> Mapping[str, Any] | None:
    return next((container for container in containers(manifest) if container.get("name") == name), None)


def _chosen_containers(spec: Mapping[str, Any], manifest: Manifest) -> list[Mapping[str, Any]]:
    """The containers a spec acts on: containerNames, or the first container (Chaos Mesh's default)."""
    names = spec.get("containerNames")
    if names:
        return [container for name in names if (container := _container(manifest, name)) is not None]
    first = pod_spec(manifest).get("containers") or []
    return first[:1]


def _services(env: RenderedEnvironment) -> dict[str, Manifest]:
    return {manifest.name: manifest for manifest in env.manifests if manifest.kind == "Service"}


def _spec_problems(where: str, kind: str, spec: Mapping[str, Any], env: RenderedEnvironment) -> Iterator[str]:
    selectors = [("selector", spec.get("selector") or {})]
    if kind == "NetworkChaos" and spec.get("target"):
        selectors.append(("target.selector", spec["target"].get("selector") or {}))
    for field, selector in selectors:
        unknown = sorted(set(selector) - SELECTOR_FIELDS)
        if unknown:
            yield f"{where}.{field}: uses {', '.join(unknown)}, which these checks cannot evaluate"
        if not selected(selector, env):
            yield f"{where}.{field}: selects no pod in {env.environment} ({selector.get('labelSelectors')})"
    for manifest in selected(spec.get("selector") or {}, env):
        pod = f"{env.environment} {manifest.ref}"
        for name in spec.get("containerNames") or []:
            if _container(manifest, name) is None:
                yield f"{where}.containerNames: {pod} has no container {name!r}"
        chosen = _chosen_containers(spec, manifest)
        if kind == "IOChaos":
            mounts = {mount.get("mountPath") for container in chosen for mount in container.get("volumeMounts") or []}
            if spec.get("volumePath") not in mounts:
                mounted = ", ".join(sorted(mount for mount in mounts if mount))
                yield f"{where}.volumePath: {pod} mounts no volume at {spec.get('volumePath')} ({mounted})"
        if kind == "HTTPChaos":
            ports = {port.get("containerPort") for container in chosen for port in container.get("ports") or []}
            if spec.get("port") not in ports:
                yield f"{where}.port: {pod} listens on {sorted(p for p in ports if p)}, not {spec.get('port')}"
        if kind == "StressChaos" and "memory" in (spec.get("stressors") or {}):
            size = str(spec["stressors"]["memory"].get("size", "0"))
            for container in chosen:
                limit = (container.get("resources") or {}).get("limits", {}).get("memory")
                if limit is not None and memory_bytes(size) <= memory_bytes(str(limit)):
                    yield f"{where}.stressors.memory.size: {size} stays under {pod}'s limit {limit}: no OOM kill"
    if kind == "NetworkChaos":
        services = _services(env)
        for target in spec.get("externalTargets") or []:
            host, _, port = str(target).rpartition(":")
            name, _, rest = host.partition(".")
            if not host or rest != f"{env.namespace}.svc.cluster.local" or name not in services:
                form = f"<name>.{env.namespace}.svc.cluster.local:<port>"
                yield f"{where}.externalTargets: {target} is not a Service of {env.environment} ({form})"
                continue
            ports = {entry.get("port") for entry in services[name].body.get("spec", {}).get("ports") or []}
            if not port.isdigit() or int(port) not in ports:
                yield f"{where}.externalTargets: {name} has no port {port} in {env.environment} ({sorted(ports)})"


def _secret_refs(env: RenderedEnvironment) -> set[tuple[str, str]]:
    refs = set()
    for manifest in pod_templates(env):
        for container in containers(manifest):
            for variable in container.get("env") or []:
                ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.add((str(ref.get("name")), str(ref.get("key"))))
    return refs


def _service_ports(service: Manifest | None) -> set[int]:
    return {int(entry["port"]) for entry in ((service.body if service else {}).get("spec") or {}).get("ports") or []}


def _task_problems(where: str, task: Mapping[str, Any], env: RenderedEnvironment) -> Iterator[str]:
    container = task.get("container") or {}
    refs = _secret_refs(env)
    services = _services(env)
    for variable in container.get("env") or []:
        name = str(variable.get("name", ""))
        ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
        if ref and (str(ref.get("name")), str(ref.get("key"))) not in refs:
            secret = f"{ref.get('name')}/{ref.get('key')}"
            yield f"{where}: {name} reads {secret}, which no pod of {env.environment} uses"
        value = str(variable.get("value", ""))
        if name == "PGHOST" and value not in services:
            yield f"{where}: PGHOST {value} is not a Service of {env.environment}"
        if name.endswith("_URL") and value.startswith("http://"):
            host, _, port = value.removeprefix("http://").partition(":")
            if not port.isdigit() or int(port) not in _service_ports(services.get(host)):
                yield f"{where}: {name} {value} is not a Service port of {env.environment}"
    labels = task.get("labels") or {}
    if labels.get("app.kubernetes.io/name") != TASK_NAME:
        yield f"{where}.labels: task pods are app.kubernetes.io/name: {TASK_NAME} (NetworkPolicies name them so)"


def check_against_render(mesh_object: MeshObject, env: RenderedEnvironment) -> list[str]:
    """Every way the object does not fit the environment's rendered manifests (module docstring)."""
    problems = []
    for where, kind, spec in chaos_specs(mesh_object.body):
        problems += [f"{mesh_object.where}: {problem}" for problem in _spec_problems(where, kind, spec, env)]
    for name, task in tasks(mesh_object.body):
        problems += [
            f"{mesh_object.where}: {problem}" for problem in _task_problems(f"templates.{name}.task", task, env)
        ]
    return problems
