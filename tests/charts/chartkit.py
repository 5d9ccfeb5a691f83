"""Checks on rendered manifests: what the chart tests assert, as functions that return problems.

Every check takes a rendered environment (shopfloor.delivery.render) and returns a list of sentences, one
per problem, empty when all is well. The tests assert the list is empty for every environment,
and also feed the checks deliberately broken renders to prove each one can fail.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import ipaddress
import logging
import re
import subprocess
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from starlette.routing import Match

from shopfloor.delivery.render import (
    NAMESPACE,
    ChartSet,
    Manifest,
    RenderedEnvironment,
    RenderError,
    data_charts,
    release,
    render_environment,
    render_release,
)
from shopfloor.local.discovery import discover_services
from shopfloor.repo import find_repo_root
from shopfloor_common.settings import settings_errors

REPO = find_repo_root(Path(__file__).parent)
ENVIRONMENTS = ("local", "dev", "staging", "prod")
# The services are those with a [tool.shopfloor] table under apps/, each released with charts/service;
# the data stores are the other application charts.
SERVICES = tuple(service.name for service in discover_services(REPO))
DATA_CHARTS = tuple(data_charts(REPO))

# The Kubernetes minors the clusters run (charts/README.md says why these).
KUBERNETES_VERSIONS = ("1.35", "1.36")

# What each environment's ENVIRONMENT variable says (the services know kind, not "local").
ENVIRONMENT_VARIABLE = {"local": "kind", "dev": "dev", "staging": "staging", "prod": "prod"}
# Where the edge is: Traefik on kind and K3s, the AWS Load Balancer Controller's ALB on EKS.
INGRESS_CLASS = {"local": "traefik", "dev": "traefik", "staging": "alb", "prod": "alb"}

POD_CONTROLLERS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet")
SECRET_DECLARATION = "shopfloor.io/external-secrets"
# Stands in for a secret value when a service's settings are built from a rendered container.
SECRET_PLACEHOLDER = "secret-value-from-the-cluster-0123456789"
# A URL read from a Secret has the shape its writer gives it: REDIS_URL is rediss:// with the AUTH
# token (scripts/aws/put-secrets.sh names ElastiCache's primary endpoint; redis-service stands in).
SECRET_STAND_INS = {"REDIS_URL": f"rediss://:{SECRET_PLACEHOLDER}@redis-service:6379/0"}


# ---------------------------------------------------------------------------------------------
# Pods and their environment


def pod_spec(manifest: Manifest) -> dict[str, Any]:
    spec = manifest.body.get("spec", {})
    if manifest.kind == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return dict(spec.get("template", {}).get("spec", {}))


def pod_labels(manifest: Manifest) -> dict[str, str]:
    spec = manifest.body.get("spec", {})
    if manifest.kind == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return dict(spec.get("template", {}).get("metadata", {}).get("labels") or {})


def pod_annotations(manifest: Manifest) -> dict[str, str]:
    return dict(manifest.body.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {})


def controllers(env: RenderedEnvironment) -> list[Manifest]:
    return [m for m in env.manifests if m.kind in POD_CONTROLLERS]


def containers(manifest: Manifest) -> list[dict[str, Any]]:
    spec = pod_spec(manifest)
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics; an empty selector matches everything."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def service_selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass
class ContainerEnvironment:
    """The variables a container starts with, as the kubelet would assemble them."""

    values: dict[str, str] = field(default_factory=dict)
    secret_refs: set[tuple[str, str]] = field(default_factory=set)  # (secret, key)
    # Variables only other variables use, through $(NAME): DATABASE_PASSWORD in DATABASE_URL.
    referenced: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def container_environment(
    env: RenderedEnvironment, owner: Manifest, container: Mapping[str, Any]
) -> ContainerEnvironment:
    """envFrom first, then env in order with $(VAR) expanded from what is defined before it."""
    where = f"{owner.ref} container {container.get('name')}"
    result = ContainerEnvironment()
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            config_map = env.find("ConfigMap", name)
            if config_map is None:
                if not source["configMapRef"].get("optional"):
                    result.problems.append(f"{where}: envFrom ConfigMap {name} is not rendered")
                continue
            result.values.update({k: str(v) for k, v in (config_map.body.get("data") or {}).items()})
        elif "secretRef" in source:
            result.problems.append(f"{where}: envFrom Secret {source['secretRef']['name']}: keys unknown here")
    for variable in container.get("env") or []:
        name = variable["name"]
        if "value" in variable:
            value = str(variable["value"])
            result.referenced.update(_REFERENCE.findall(value))
            undefined = [ref for ref in _REFERENCE.findall(value) if ref not in result.values]
            if undefined:
                result.problems.append(
                    f"{where}: {name} refers to $({', '.join(undefined)}), not defined before it (no expansion)"
                )
            result.values[name] = _REFERENCE.sub(lambda m: result.values.get(m.group(1), m.group(0)), value)
        elif "secretKeyRef" in variable.get("valueFrom", {}):
            ref = variable["valueFrom"]["secretKeyRef"]
            result.secret_refs.add((ref["name"], ref["key"]))
            result.values[name] = SECRET_STAND_INS.get(name, SECRET_PLACEHOLDER)
        elif "configMapKeyRef" in variable.get("valueFrom", {}):
            ref = variable["valueFrom"]["configMapKeyRef"]
            config_map = env.find("ConfigMap", ref["name"])
            data = (config_map.body.get("data") or {}) if config_map else {}
            if ref["key"] not in data:
                result.problems.append(f"{where}: {name} reads ConfigMap {ref['name']} key {ref['key']}, not rendered")
            result.values[name] = str(data.get(ref["key"], ""))
        else:
            result.values[name] = ""
    return result


def main_container(manifest: Manifest) -> dict[str, Any]:
    return dict(pod_spec(manifest)["containers"][0])


# ---------------------------------------------------------------------------------------------
# Wiring between objects: selectors, ports, backends, references


def check_selectors(env: RenderedEnvironment) -> list[str]:
    problems = []
    workloads = controllers(env)
    for manifest in env.of_kind("Deployment") + env.of_kind("StatefulSet"):
        match = manifest.body["spec"]["selector"]
        if not selector_matches(match, pod_labels(manifest)):
            problems.append(f"{manifest.ref}: selector {match} does not match its own pod labels")
        for constraint in pod_spec(manifest).get("topologySpreadConstraints") or []:
            if not selector_matches(constraint.get("labelSelector"), pod_labels(manifest)):
                problems.append(f"{manifest.ref}: topology spread on {constraint['topologyKey']} counts other pods")
    for service in env.of_kind("Service"):
        selector = service.body["spec"].get("selector")
        if service.body["spec"].get("type") == "ExternalName":
            continue
        if not any(service_selector_matches(selector or {}, pod_labels(w)) for w in workloads):
            problems.append(f"{service.ref}: selector {selector} matches no pod of the release")
        jobs = [w.ref for w in workloads if w.kind == "Job" and service_selector_matches(selector or {}, pod_labels(w))]
        if jobs:
            problems.append(f"{service.ref}: selector also matches the pods of {', '.join(jobs)}")
    for budget in env.of_kind("PodDisruptionBudget"):
        if not any(selector_matches(budget.body["spec"]["selector"], pod_labels(w)) for w in workloads):
            problems.append(f"{budget.ref}: selector matches no pod")
    for policy in env.of_kind("NetworkPolicy"):
        if not any(selector_matches(policy.body["spec"]["podSelector"], pod_labels(w)) for w in workloads):
            problems.append(f"{policy.ref}: podSelector matches no pod")
    for autoscaler in env.of_kind("HorizontalPodAutoscaler"):
        target = autoscaler.body["spec"]["scaleTargetRef"]
        if env.find(target["kind"], target["name"]) is None:
            problems.append(f"{autoscaler.ref}: scales {target['kind']}/{target['name']}, which is not rendered")
    return problems


def container_ports(manifest: Manifest) -> dict[int | str, int]:
    """Every container port by number and by name."""
    ports: dict[int | str, int] = {}
    for container in containers(manifest):
        for port in container.get("ports") or []:
            ports[int(port["containerPort"])] = int(port["containerPort"])
            if "name" in port:
                ports[str(port["name"])] = int(port["containerPort"])
    return ports


def check_service_ports(env: RenderedEnvironment) -> list[str]:
    problems = []
    for service in env.of_kind("Service"):
        spec = service.body["spec"]
        if spec.get("type") == "ExternalName":
            continue
        selected = [w for w in controllers(env) if service_selector_matches(spec.get("selector") or {}, pod_labels(w))]
        for port in spec.get("ports", []):
            target = port.get("targetPort", port["port"])
            for workload in selected:
                if target not in container_ports(workload):
                    problems.append(
                        f"{service.ref}: port {port['port']} targets {target}, not a container port of {workload.ref}"
                    )
    return problems


def check_ingress_backends(env: RenderedEnvironment) -> list[str]:
    problems = []
    for ingress in env.of_kind("Ingress"):
        for rule in ingress.body["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path["backend"]["service"]
                service = env.find("Service", backend["name"])
                if service is None:
                    problems.append(f"{ingress.ref}: {path['path']} goes to Service {backend['name']}, not rendered")
                    continue
                ports = service.body["spec"].get("ports", [])
                wanted = backend["port"]
                if not any(p["port"] == wanted.get("number") or p.get("name") == wanted.get("name") for p in ports):
                    problems.append(
                        f"{ingress.ref}: {path['path']} goes to {backend['name']} port {wanted}, not a port of it"
                    )
    return problems


def declared_external_secrets(manifest: Manifest) -> set[str]:
    declared = manifest.annotations.get(SECRET_DECLARATION, "")
    return {name.strip() for name in declared.split(",") if name.strip()}


def external_secret_targets(env: RenderedEnvironment) -> dict[str, set[str]]:
    """Secret name -> the keys an ExternalSecret of this render writes into it."""
    targets: dict[str, set[str]] = {}
    for external in env.of_kind("ExternalSecret"):
        spec = external.body["spec"]
        name = spec.get("target", {}).get("name") or external.name
        targets.setdefault(name, set()).update(item["secretKey"] for item in spec.get("data") or [])
    return targets


def check_references(env: RenderedEnvironment) -> list[str]:
    """ConfigMaps, Secrets, ServiceAccounts and claims a pod uses exist, or are declared external."""
    problems = []
    made_by_external_secrets = external_secret_targets(env)
    for workload in controllers(env):
        spec = pod_spec(workload)
        secrets: set[tuple[str, str | None]] = set()
        config_maps: set[str] = set()
        for container in containers(workload):
            for source in container.get("envFrom") or []:
                if "configMapRef" in source:
                    config_maps.add(source["configMapRef"]["name"])
                if "secretRef" in source:
                    secrets.add((source["secretRef"]["name"], None))
            for variable in container.get("env") or []:
                value_from = variable.get("valueFrom", {})
                if "secretKeyRef" in value_from:
                    secrets.add((value_from["secretKeyRef"]["name"], value_from["secretKeyRef"]["key"]))
                if "configMapKeyRef" in value_from:
                    config_maps.add(value_from["configMapKeyRef"]["name"])
        claims = {t["metadata"]["name"] for t in workload.body["spec"].get("volumeClaimTemplates") or []}
        for volume in spec.get("volumes") or []:
            if "configMap" in volume:
                config_maps.add(volume["configMap"]["name"])
            if "secret" in volume:
                secrets.add((volume["secret"]["secretName"], None))
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim and env.find("PersistentVolumeClaim", claim) is None and claim not in claims:
                problems.append(f"{workload.ref}: PersistentVolumeClaim {claim} is not rendered")
        for name in sorted(config_maps):
            if env.find("ConfigMap", name) is None:
                problems.append(f"{workload.ref}: ConfigMap {name} is not rendered")
        declared = declared_external_secrets(workload)
        for name, key in sorted(secrets, key=str):
            if name in made_by_external_secrets and key is not None and key not in made_by_external_secrets[name]:
                problems.append(f"{workload.ref}: Secret {name} key {key} is not written by its ExternalSecret")
        for name in sorted({name for name, _ in secrets} - set(made_by_external_secrets) - declared):
            problems.append(
                f"{workload.ref}: Secret {name} is neither made by an ExternalSecret here nor declared in "
                f"its {SECRET_DECLARATION} annotation"
            )
        account = spec.get("serviceAccountName")
        if account and account != "default" and env.find("ServiceAccount", account) is None:
            problems.append(f"{workload.ref}: ServiceAccount {account} is not rendered")
    for ingress in env.of_kind("Ingress"):
        for tls in ingress.body["spec"].get("tls") or []:
            name = tls.get("secretName")
            if name and name not in made_by_external_secrets and name not in declared_external_secrets(ingress):
                problems.append(f"{ingress.ref}: TLS Secret {name} is neither made here nor declared external")
    if env.of_kind("Secret"):
        problems.append(f"Secrets rendered with values in git: {[s.name for s in env.of_kind('Secret')]}")
    return problems


# ---------------------------------------------------------------------------------------------
# Contracts with the services' own code


@dataclass(frozen=True)
class ServiceApp:
    """What a service's pyproject.toml and code say about it."""

    name: str
    port: int
    migrate: bool
    scripts: frozenset[str]
    settings_class: type[BaseSettings]
    app_factory: Callable[[Any], FastAPI]


def _import(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def load_service_app(name: str) -> ServiceApp:
    document = tomllib.loads((REPO / "apps" / name / "pyproject.toml").read_text(encoding="utf-8"))
    table = document["tool"]["shopfloor"]
    settings_reference = table["settings"]
    package = settings_reference.split(":")[0].rsplit(".", 1)[0]
    return ServiceApp(
        name=name,
        port=int(table["port"]),
        migrate=bool(table.get("migrate", False)),
        scripts=frozenset(document.get("project", {}).get("scripts", {})),
        settings_class=_import(settings_reference),
        app_factory=_import(table.get("app", f"{package}.app:create_app")),
    )


def _required_variables(settings_class: type[BaseSettings]) -> set[str]:
    return {name.upper() for name, info in settings_class.model_fields.items() if info.is_required()}


def _known_variables(settings_class: type[BaseSettings]) -> set[str]:
    return {name.upper() for name in settings_class.model_fields}


def settings_from(
    settings_class: type[BaseSettings], values: Mapping[str, str]
) -> tuple[BaseSettings | None, list[str]]:
    """Build the settings exactly from `values` (never the test process's own environment)."""
    known = {k.lower(): v for k, v in values.items() if k in _known_variables(settings_class)}
    try:
        return settings_class.model_validate(known), []
    except ValidationError as exc:
        return None, settings_errors(exc)


@contextlib.contextmanager
def _logging_left_alone() -> Iterator[None]:
    # Building an app configures JSON logging on the root logger; pytest's capture stays ours.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _relocate_paths(settings: BaseSettings, scratch: Path) -> BaseSettings:
    # Volumes of the pod (IMAGE_DIR=/data/images) become folders of the test's scratch directory.
    moved = {
        name: scratch / str(value).lstrip("/")
        for name, value in settings.__dict__.items()
        if isinstance(value, Path) and value.is_absolute()
    }
    return settings.model_copy(update=moved) if moved else settings


def serves_get(app: FastAPI, path: str) -> bool:
    """Whether a GET of `path` reaches a route of the app (Starlette's own matching, so routers
    included with prefixes count as the app serves them)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)


def check_service_contract(env: RenderedEnvironment, service: ServiceApp, scratch: Path) -> list[str]:
    """The chart runs the service the way its code expects: command, port, variables, probe paths."""
    problems = []
    deployment = env.find("Deployment", service.name)
    if deployment is None:
        return [f"{service.name}: no Deployment rendered"]
    container = main_container(deployment)
    where = f"{deployment.ref}"
    command = container.get("command") or []
    if command[:2] != [service.name, "serve"] or service.name not in service.scripts:
        problems.append(
            f"{where}: command {command} is not `{service.name} serve` (scripts: {sorted(service.scripts)})"
        )
    environment = container_environment(env, deployment, container)
    problems += environment.problems
    provided = environment.values
    missing = sorted(_required_variables(service.settings_class) - set(provided))
    if missing:
        problems.append(f"{where}: required variables not provided: {', '.join(missing)}")
    unknown = sorted(set(provided) - _known_variables(service.settings_class) - environment.referenced)
    if unknown:
        problems.append(f"{where}: variables {service.name} does not read (typo?): {', '.join(unknown)}")
    if provided.get("HOST") != "0.0.0.0":
        problems.append(f"{where}: HOST is {provided.get('HOST')!r}; a container must listen on 0.0.0.0")
    ports = container_ports(deployment)
    if "http" not in ports or str(ports["http"]) != provided.get("PORT"):
        problems.append(
            f"{where}: containerPort http {ports.get('http')} is not the PORT it listens on {provided.get('PORT')}"
        )
    settings, errors = settings_from(service.settings_class, provided)
    problems += [f"{where}: {service.name} refuses its configuration: {error}" for error in errors]
    if settings is not None:
        with _logging_left_alone():
            app = service.app_factory(_relocate_paths(settings, scratch))
        for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = container.get(probe_name, {}).get("httpGet")
            if probe is None:
                problems.append(f"{where}: no HTTP {probe_name}")
                continue
            if not serves_get(app, probe["path"]):
                problems.append(f"{where}: {probe_name} path {probe['path']} is not a GET route of {service.name}")
            if probe["port"] not in ports:
                problems.append(f"{where}: {probe_name} port {probe['port']} is not a container port")
        metrics_path = pod_annotations(deployment).get("prometheus.io/path")
        if metrics_path is not None and not serves_get(app, metrics_path):
            problems.append(f"{where}: prometheus.io/path {metrics_path} is not a route of {service.name}")
    job = env.find("Job", f"{service.name}-migrate")
    if service.migrate != (job is not None):
        problems.append(
            f"{service.name}: migrate = {service.migrate} in pyproject, migration Job rendered: {job is not None}"
        )
    if job is not None:
        job_container = main_container(job)
        if (job_container.get("command") or [])[:2] != [service.name, "migrate"]:
            problems.append(f"{job.ref}: command {job_container.get('command')} is not `{service.name} migrate`")
        job_environment = container_environment(env, job, job_container)
        problems += job_environment.problems
        _, job_errors = settings_from(service.settings_class, job_environment.values)
        problems += [f"{job.ref}: {service.name} migrate refuses its configuration: {e}" for e in job_errors]
    return problems


# ---------------------------------------------------------------------------------------------
# NetworkPolicies against the request flow


@dataclass(frozen=True)
class Actor:
    """Something that sends or receives traffic: a pod (labels) or an address off the cluster."""

    name: str
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    ip: str | None = None
    ports: tuple[int, ...] = ()

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def is_pod(self) -> bool:
        return self.ip is None


def _pod_actor(name: str, namespace: str, labels: Mapping[str, str], ports: tuple[int, ...]) -> Actor:
    return Actor(name=name, namespace=namespace, labels=tuple(sorted(labels.items())), ports=ports)


# Peers outside the release, where the clusters run them.
TRAEFIK = _pod_actor("edge", "kube-system", {"app.kubernetes.io/name": "traefik"}, (8000, 8443))
MONITORING = _pod_actor("monitoring", "monitoring", {"app.kubernetes.io/name": "prometheus"}, (9090,))
CLUSTER_DNS = _pod_actor("dns", "kube-system", {"k8s-app": "kube-dns"}, (53,))
# Strangers nothing should let in or out: a look-alike pod in another namespace, the internet.
LOOKALIKE = _pod_actor(
    "lookalike-in-default-namespace",
    "default",
    {
        "app.kubernetes.io/name": "catalog",
        "app.kubernetes.io/part-of": "shopfloor",
        "app.kubernetes.io/component": "server",
    },
    (8081,),
)
INTERNET = Actor(name="internet", ip="203.0.113.10", ports=(80, 443))
AWS_APIS = Actor(name="aws-apis", ip="52.95.110.1", ports=(443,))
INSTANCE_METADATA = Actor(name="instance-metadata", ip="169.254.169.254", ports=(80,))

# On EKS, Terraform's VPC plan: the ALB in the public subnets, RDS and ElastiCache in the database
# subnets (environments/<env>/*/values.yaml name the same address blocks).
AWS_ADDRESSES = {
    "staging": {"edge": "10.20.1.10", "postgresql-service": "10.20.64.10", "redis-service": "10.20.65.20"},
    "prod": {"edge": "10.30.5.10", "postgresql-service": "10.30.64.10", "redis-service": "10.30.66.20"},
}
MANAGED = {"postgresql-service": ("rds", 5432), "redis-service": ("elasticache", 6379)}


def _namespace_labels(namespace: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": namespace}


def _peer_matches(peer: Mapping[str, Any], actor: Actor, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        if actor.ip is None:
            return False
        address = ipaddress.ip_address(actor.ip)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(excluded) for excluded in block.get("except") or []
        )
    if not actor.is_pod:
        return False
    namespace_selector = peer.get("namespaceSelector")
    if namespace_selector is None:
        in_namespace = actor.namespace == policy_namespace
    else:
        in_namespace = selector_matches(namespace_selector, _namespace_labels(actor.namespace or ""))
    return in_namespace and selector_matches(peer.get("podSelector"), actor.label_map)


def _port_matches(rule_ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    return any((p.get("port") in (None, port)) and p.get("protocol", "TCP") == protocol for p in rule_ports)


class NetworkModel:
    """Who may talk to whom under the rendered NetworkPolicies (Kubernetes semantics)."""

    def __init__(self, env: RenderedEnvironment, namespace: str = NAMESPACE) -> None:
        self.namespace = namespace
        self.policies = [p.body for p in env.of_kind("NetworkPolicy")]

    def _selecting(self, actor: Actor, direction: str) -> list[dict[str, Any]]:
        if not actor.is_pod or actor.namespace != self.namespace:
            return []
        return [
            policy
            for policy in self.policies
            if direction in policy["spec"].get("policyTypes", ["Ingress"])
            and selector_matches(policy["spec"]["podSelector"], actor.label_map)
        ]

    def allows(self, source: Actor, target: Actor, port: int, protocol: str = "TCP") -> bool:
        egress = self._selecting(source, "Egress")
        if egress and not any(
            _port_matches(rule.get("ports"), port, protocol)
            and (not rule.get("to") or any(_peer_matches(peer, target, self.namespace) for peer in rule["to"]))
            for policy in egress
            for rule in policy["spec"].get("egress") or []
        ):
            return False
        ingress = self._selecting(target, "Ingress")
        return not ingress or any(
            _port_matches(rule.get("ports"), port, protocol)
            and (not rule.get("from") or any(_peer_matches(peer, source, self.namespace) for peer in rule["from"]))
            for policy in ingress
            for rule in policy["spec"].get("ingress") or []
        )


Flow = tuple[str, str, int]


@dataclass
class FlowPlan:
    actors: dict[str, Actor]
    expected: set[Flow]


def flow_plan(env: RenderedEnvironment) -> FlowPlan:
    """The request flow the environment needs, derived from what its objects say:
    the edge reaches the Ingress backends, monitoring the pods it scrapes, each service the DNS, and
    a server each *_URL it is configured with (a migration only its DATABASE_URL); a service with
    S3_BUCKET reaches the AWS APIs (and, without an IRSA role, the instance metadata service)."""
    aws = AWS_ADDRESSES.get(env.environment, {})
    actors: dict[str, Actor] = {
        actor.name: actor for actor in (MONITORING, CLUSTER_DNS, LOOKALIKE, INTERNET, AWS_APIS, INSTANCE_METADATA)
    }
    actors["edge"] = Actor(name="edge", ip=aws["edge"], ports=(80, 443)) if "edge" in aws else TRAEFIK
    for workload in controllers(env):
        actor = _pod_actor(
            workload.name,
            env.namespace,
            pod_labels(workload),
            tuple(sorted(set(container_ports(workload).values()))),
        )
        actors[workload.name] = actor
    expected: set[Flow] = set()

    def backend_of(service_name: str) -> tuple[str, int] | None:
        service = env.find("Service", service_name)
        if service is None:
            return None
        spec = service.body["spec"]
        if spec.get("type") == "ExternalName":
            if service_name not in MANAGED or service_name not in aws:
                return None
            actor_name, port = MANAGED[service_name]
            actors[actor_name] = Actor(name=actor_name, ip=aws[service_name], ports=(port,))
            return actor_name, port
        for workload in controllers(env):
            if service_selector_matches(spec.get("selector") or {}, pod_labels(workload)):
                return workload.name, int(spec["ports"][0].get("targetPort", spec["ports"][0]["port"]))
        return None

    for ingress in env.of_kind("Ingress"):
        for rule in ingress.body["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = backend_of(path["backend"]["service"]["name"])
                if backend:
                    expected.add(("edge", *backend))
                    # The ALB health-checks the management port (where /readyz is), not the traffic port.
                    check_port = ingress.annotations.get("alb.ingress.kubernetes.io/healthcheck-port", "")
                    if check_port.isdigit():
                        expected.add(("edge", backend[0], int(check_port)))
    for workload in controllers(env):
        annotations = pod_annotations(workload)
        if annotations.get("prometheus.io/scrape") == "true":
            expected.add(("monitoring", workload.name, int(annotations["prometheus.io/port"])))
        component = pod_labels(workload).get("app.kubernetes.io/component")
        if component in ("server", "migrate", "bootstrap"):
            # Every service resolves names; the data stores call nobody, so not even the DNS.
            expected.add((workload.name, "dns", 53))
        is_migration = component == "migrate"
        for container in containers(workload):
            values = container_environment(env, workload, container).values
            for variable, value in values.items():
                if not variable.endswith("_URL") or (is_migration and variable != "DATABASE_URL"):
                    continue
                host = urlsplit(value).hostname or ""
                if host.endswith("-service"):
                    backend = backend_of(host)
                    if backend:
                        expected.add((workload.name, *backend))
            # libpq's PGHOST names a server too (the database bootstrap Job's psql).
            if values.get("PGHOST", "").endswith("-service"):
                backend = backend_of(values["PGHOST"])
                if backend:
                    expected.add((workload.name, *backend))
            if values.get("S3_BUCKET") and not is_migration:
                # A NetworkPolicy cannot name AWS' addresses: the rule for S3 opens public HTTPS.
                expected.add((workload.name, "aws-apis", 443))
                expected.add((workload.name, "internet", 443))
                account = env.find("ServiceAccount", pod_spec(workload).get("serviceAccountName", ""))
                if account is None or "eks.amazonaws.com/role-arn" not in account.annotations:
                    expected.add((workload.name, "instance-metadata", 80))
    for service in env.of_kind("Service"):
        if service.body["spec"].get("type") == "NodePort":
            backend = backend_of(service.name)
            if backend:
                # Whoever reaches a node: any address.
                expected.update((actor.name, *backend) for actor in actors.values() if not actor.is_pod)
    return FlowPlan(actors=actors, expected=expected)


def check_network_flow(env: RenderedEnvironment) -> list[str]:
    """NetworkPolicies allow exactly the request flow: every needed path, and nothing else."""
    plan = flow_plan(env)
    model = NetworkModel(env)
    workload_names = {w.name for w in controllers(env)}
    allowed: set[Flow] = set()
    for source in plan.actors.values():
        for target in plan.actors.values():
            if source is target or not ({source.name, target.name} & workload_names):
                continue
            for port in target.ports:
                protocols = ("UDP", "TCP") if target.name == "dns" else ("TCP",)
                if all(model.allows(source, target, port, protocol) for protocol in protocols):
                    allowed.add((source.name, target.name, port))
    problems = [f"needed but denied: {s} -> {t}:{p}" for s, t, p in sorted(plan.expected - allowed)]
    problems += [f"allowed but not in the request flow: {s} -> {t}:{p}" for s, t, p in sorted(allowed - plan.expected)]
    return problems


# Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource): decimal and binary suffixes.
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?P<suffix>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
)
_SUFFIX = {
    None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}  # fmt: skip


def quantity(value: str | int | float) -> float:
    """A resource quantity as a number of base units (cores, bytes): "250m" -> 0.25, "1Gi" -> 2**30."""
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return float(match.group("number")) * _SUFFIX[match.group("suffix")]


def check_requests_within_limits(env: RenderedEnvironment) -> list[str]:
    """No container requests more than its limit: the API server refuses such a pod ("must be less
    than or equal to cpu limit"), so the Deployment never gets a single replica."""
    problems = []
    for workload in controllers(env):
        for container in containers(workload):
            resources = container.get("resources") or {}
            requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
            for resource in sorted(set(requests) & set(limits)):
                if quantity(requests[resource]) > quantity(limits[resource]):
                    problems.append(
                        f"{workload.ref} {container['name']}: requests {resource} {requests[resource]} above its "
                        f"limit {limits[resource]} (the API server refuses the pod)"
                    )
    return problems


# ---------------------------------------------------------------------------------------------
# Test helpers


@dataclass
class Renders:
    """Each environment rendered once; renders with overrides on demand."""

    charts: ChartSet
    out_dir: Path
    cache: dict[str, RenderedEnvironment] = field(default_factory=dict)
    errors: dict[str, RenderError] = field(default_factory=dict)
    checkov: subprocess.Popen[bytes] | None = None

    def __call__(self, environment: str) -> RenderedEnvironment:
        if environment in self.errors:
            raise self.errors[environment]
        if environment not in self.cache:
            try:
                self.cache[environment] = render_environment(self.charts, environment)
            except RenderError as exc:
                self.errors[environment] = exc
                raise
        return self.cache[environment]

    def with_overrides(self, environment: str, overrides: Mapping[str, Mapping[str, Any]]) -> RenderedEnvironment:
        """The environment with some releases' values changed; the others come from the cache."""
        base = self(environment)
        changed = RenderedEnvironment(environment=environment, namespace=base.namespace)
        for name, rendered in base.releases.items():
            if name in overrides:
                rendered = render_release(
                    self.charts, release(REPO, environment, name), overrides=overrides[name], namespace=base.namespace
                )
            changed.releases[name] = copy.deepcopy(rendered)
        return changed


def broken_copy(env: RenderedEnvironment, change: Callable[[RenderedEnvironment], None]) -> RenderedEnvironment:
    """A deep copy of a render with one deliberate fault, to show a check catches it."""
    copied = copy.deepcopy(env)
    change(copied)
    return copied


def env_var(container: Mapping[str, Any], name: str) -> str | None:
    for variable in container.get("env") or []:
        if variable["name"] == name:
            return str(variable.get("value"))
    return None
