"""The ServiceMonitors of charts/service, as every environment renders them: valid against
prometheus-operator's CRD (strictly), selecting exactly the service's ClusterIP Service on the
port that serves /metrics, and giving the targets the labels observability/ rules select on
(job=<service>, service=<service>-service, namespace=shopfloor).

There is no cluster here: the targets' labels are computed from the ServiceMonitor by applying its
relabelings (keep and replace, the only actions it uses) to the discovery labels
prometheus-operator's Kubernetes endpoints discovery gives a target of each matching Service
(__meta_kubernetes_service_name, __meta_kubernetes_namespace) after the operator's own
`service`/`namespace`/`job` relabeling. Each check is shown failing on a broken object.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from shopfloor.delivery.render import ChartSet, Manifest, RenderedEnvironment, render_environment
from tests.charts.chartkit import ENVIRONMENTS, REPO, SERVICES
from tests.crdkit import crd_errors, require_crds
from tests.observability import alertkit

NAMESPACE = "shopfloor"


@pytest.fixture(scope="module")
def rendered() -> Iterator[dict[str, RenderedEnvironment]]:
    with ChartSet(REPO) as charts:
        yield {environment: render_environment(charts, environment) for environment in ENVIRONMENTS}


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def relabel(configs: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str] | None:
    """Prometheus' relabeling for the actions the chart uses; None when the target is dropped."""
    labels = dict(labels)
    for config in configs:
        action = config.get("action", "replace")
        source = config.get("separator", ";").join(labels.get(name, "") for name in config.get("sourceLabels", []))
        match = re.fullmatch(config.get("regex", "(.*)"), source)
        if action == "keep":
            if match is None:
                return None
        elif action == "replace":
            if match is not None:
                labels[config["targetLabel"]] = match.expand(
                    re.sub(r"\$\{?(\d+)\}?", r"\\\1", config.get("replacement", "$1"))
                )
        else:
            raise AssertionError(f"relabel action {action!r} is not modelled here")
    return labels


def scrape_targets(env: RenderedEnvironment, monitor: Manifest) -> list[dict[str, str]]:
    """The target labels (less the operator's pod/container/endpoint labels) Prometheus gives the
    pods behind every Service this ServiceMonitor selects, one entry per Service port scraped."""
    spec = monitor.body["spec"]
    namespaces = spec.get("namespaceSelector", {}).get("matchNames", [monitor.body["metadata"]["namespace"]])
    targets = []
    for service in env.of_kind("Service"):
        meta = service.body["metadata"]
        if meta["namespace"] not in namespaces:
            continue
        if not _matches(spec["selector"]["matchLabels"], meta.get("labels", {})):
            continue
        for endpoint in spec["endpoints"]:
            if endpoint["port"] not in [port.get("name") for port in service.body["spec"]["ports"]]:
                continue
            # What the operator's generated scrape config sets before the user's relabelings.
            discovered = {
                "__meta_kubernetes_service_name": meta["name"],
                "__meta_kubernetes_namespace": meta["namespace"],
                "namespace": meta["namespace"],
                "service": meta["name"],
                "job": meta["name"],
            }
            labels = relabel(endpoint.get("relabelings", []), discovered)
            if labels is not None:
                targets.append({k: v for k, v in labels.items() if not k.startswith("__")})
    return targets


def monitor_problems(env: RenderedEnvironment, service: str) -> list[str]:
    monitor = env.find("ServiceMonitor", service)
    if monitor is None:
        return [f"{env.environment}: no ServiceMonitor/{service}"]
    problems = []
    targets = scrape_targets(env, monitor)
    expected = {"job": service, "service": f"{service}-service", "namespace": NAMESPACE}
    if targets != [expected]:
        problems.append(f"{env.environment}: ServiceMonitor/{service} yields targets {targets}, want [{expected}]")
    endpoint = monitor.body["spec"]["endpoints"][0]
    if endpoint.get("path") != "/metrics":
        problems.append(f"{env.environment}: ServiceMonitor/{service} scrapes {endpoint.get('path')}, not /metrics")
    # The Service port scraped must lead to the port the container listens on.
    svc = env.find("Service", f"{service}-service")
    deployment = env.find("Deployment", service)
    if svc is not None and deployment is not None:
        ports = {p["name"]: p["targetPort"] for p in svc.body["spec"]["ports"]}
        container_ports = {
            p["containerPort"]
            for c in deployment.body["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
        } | {
            p.get("name") for c in deployment.body["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])
        }
        if ports.get(endpoint["port"]) not in container_ports:
            problems.append(
                f"{env.environment}: port {endpoint['port']} of {service}-service leads to no container port"
            )
    return problems


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_service_has_a_servicemonitor_valid_against_the_crd(
    rendered: dict[str, RenderedEnvironment], environment: str
) -> None:
    require_crds()
    monitors = rendered[environment].of_kind("ServiceMonitor")
    assert sorted(m.name for m in monitors) == sorted(SERVICES)
    assert [error for m in monitors for error in crd_errors(m.body)] == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_targets_carry_the_labels_the_rules_select_on(
    rendered: dict[str, RenderedEnvironment], environment: str
) -> None:
    assert [p for service in SERVICES for p in monitor_problems(rendered[environment], service)] == []


def test_every_job_the_rules_name_is_scraped(rendered: dict[str, RenderedEnvironment]) -> None:
    """Rules and the generated SLO rules select the shop's services by `job`: each job they name
    is one a ServiceMonitor gives."""
    named = set()
    for path in alertkit.rule_files(REPO):
        named |= set(re.findall(r'\bjob="([a-z][a-z0-9-]*)"', path.read_text(encoding="utf-8")))
    jobs = {
        target["job"]
        for m in rendered["prod"].of_kind("ServiceMonitor")
        for target in scrape_targets(rendered["prod"], m)
    }
    assert named, "the rule files name no job: the pattern above no longer finds them"
    assert named <= jobs


def test_the_checks_fail_on_a_broken_servicemonitor(rendered: dict[str, RenderedEnvironment]) -> None:
    require_crds()
    env = copy.deepcopy(rendered["dev"])
    monitor = env.find("ServiceMonitor", "catalog")
    assert monitor is not None
    endpoint = monitor.body["spec"]["endpoints"][0]

    misspelt = copy.deepcopy(monitor.body)
    misspelt["spec"]["endpoints"][0]["scrapeInterval"] = "15s"
    assert any("scrapeInterval" in error for error in crd_errors(misspelt))

    relabelings = endpoint["relabelings"]
    endpoint["relabelings"] = [r for r in relabelings if r.get("targetLabel") != "job"]
    assert any("catalog-service" in p and "'job': 'catalog-service'" in p for p in monitor_problems(env, "catalog"))

    endpoint["relabelings"] = [r for r in relabelings if r.get("action") != "keep"]
    node_port = copy.deepcopy(env.find("Service", "catalog-service"))
    assert node_port is not None
    node_port.body["metadata"]["name"] = "catalog-nodeport"
    env.releases["catalog"].manifests.append(node_port)
    assert any("catalog-nodeport" in p for p in monitor_problems(env, "catalog"))

    endpoint["relabelings"] = relabelings
    endpoint["port"] = "metrics"
    assert monitor_problems(env, "catalog") != []
