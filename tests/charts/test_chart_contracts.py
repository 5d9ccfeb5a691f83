"""Contracts between the charts and the services they run, and between the rendered objects.

The services' own code is the reference: their settings classes (named by [tool.shopfloor]
settings) say which variables they need and accept, their app factories say which routes the
probes may use. Each check is also shown failing on a deliberately broken render.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shopfloor.delivery.render import RenderedEnvironment, RenderError
from tests.charts.chartkit import (
    ENVIRONMENTS,
    SERVICES,
    Renders,
    ServiceApp,
    broken_copy,
    check_ingress_backends,
    check_network_flow,
    check_references,
    check_requests_within_limits,
    check_selectors,
    check_service_contract,
    check_service_ports,
    load_service_app,
    pod_spec,
    quantity,
)

WIRING_CHECKS = (
    check_selectors,
    check_service_ports,
    check_ingress_backends,
    check_references,
    check_network_flow,
    check_requests_within_limits,
)


@pytest.fixture(scope="module")
def apps() -> dict[str, ServiceApp]:
    return {name: load_service_app(name) for name in SERVICES}


@pytest.mark.parametrize("check", WIRING_CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_rendered_objects_fit_together(renders: Renders, environment: str, check: object) -> None:
    assert callable(check)
    assert check(renders(environment)) == []


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_chart_runs_the_service_as_its_code_expects(
    renders: Renders, apps: dict[str, ServiceApp], environment: str, service: str, tmp_path: Path
) -> None:
    assert check_service_contract(renders(environment), apps[service], tmp_path) == []


# --- the same checks on deliberately broken renders ---------------------------------------------


def test_a_probe_path_the_service_does_not_serve_is_caught(
    renders: Renders, apps: dict[str, ServiceApp], tmp_path: Path
) -> None:
    broken = renders.with_overrides("local", {"catalog": {"probes": {"readinessPath": "/ready"}}})
    problems = check_service_contract(broken, apps["catalog"], tmp_path)
    assert problems == ["Deployment/catalog: readinessProbe path /ready is not a GET route of catalog"]


def test_a_missing_required_variable_is_caught(renders: Renders, apps: dict[str, ServiceApp], tmp_path: Path) -> None:
    broken = renders.with_overrides(
        "local",
        {"catalog": {"secrets": {"keys": ["DATABASE_PASSWORD"]}}},
    )
    problems = check_service_contract(broken, apps["catalog"], tmp_path)
    assert "Deployment/catalog: required variables not provided: ADMIN_API_KEY" in problems


def test_a_misspelt_setting_is_caught(renders: Renders, apps: dict[str, ServiceApp], tmp_path: Path) -> None:
    broken = renders.with_overrides("dev", {"api-gateway": {"config": {"CATALOG_URI": "http://catalog-service:8081"}}})
    problems = check_service_contract(broken, apps["api-gateway"], tmp_path)
    assert problems == ["Deployment/api-gateway: variables api-gateway does not read (typo?): CATALOG_URI"]


def test_a_value_the_service_refuses_is_caught(renders: Renders, apps: dict[str, ServiceApp], tmp_path: Path) -> None:
    broken = renders.with_overrides("prod", {"api-gateway": {"config": {"RATE_LIMIT": "lots"}}})
    problems = check_service_contract(broken, apps["api-gateway"], tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("Deployment/api-gateway: api-gateway refuses its configuration: RATE_LIMIT:")


def test_a_selector_that_matches_no_pod_is_caught(renders: Renders) -> None:
    def break_selector(env: RenderedEnvironment) -> None:
        service = env.find("Service", "catalog-service")
        assert service is not None
        service.body["spec"]["selector"]["app.kubernetes.io/component"] = "api"

    broken = broken_copy(renders("local"), break_selector)
    problems = check_selectors(broken)
    assert problems == [
        "Service/catalog-service: selector {'app.kubernetes.io/name': 'catalog', 'app.kubernetes.io/instance': "
        "'catalog', 'app.kubernetes.io/component': 'api'} matches no pod of the release"
    ]


def test_a_target_port_no_container_opens_is_caught(renders: Renders) -> None:
    def break_port(env: RenderedEnvironment) -> None:
        deployment = env.find("Deployment", "frontend")
        assert deployment is not None
        pod_spec_ports = deployment.body["spec"]["template"]["spec"]["containers"][0]["ports"]
        pod_spec_ports[0]["containerPort"] = 3001

    problems = check_service_ports(broken_copy(renders("staging"), break_port))
    assert problems == ["Service/frontend-service: port 3000 targets 3000, not a container port of Deployment/frontend"]


def test_an_ingress_to_a_missing_service_is_caught(renders: Renders) -> None:
    def break_backend(env: RenderedEnvironment) -> None:
        ingress = env.find("Ingress", "api-gateway")
        assert ingress is not None
        ingress.body["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "api-service"

    problems = check_ingress_backends(broken_copy(renders("prod"), break_backend))
    assert problems == ["Ingress/api-gateway: /api goes to Service api-service, not rendered"]


def test_a_secret_nobody_provides_is_caught(renders: Renders) -> None:
    def forget_declaration(env: RenderedEnvironment) -> None:
        deployment = env.find("Deployment", "orders")
        assert deployment is not None
        del deployment.body["metadata"]["annotations"]["shopfloor.io/external-secrets"]

    problems = check_references(broken_copy(renders("local"), forget_declaration))
    assert problems == [
        "Deployment/orders: Secret orders-secrets is neither made by an ExternalSecret here nor declared in its "
        "shopfloor.io/external-secrets annotation"
    ]


def test_a_config_map_that_is_not_rendered_is_caught(renders: Renders) -> None:
    def rename(env: RenderedEnvironment) -> None:
        deployment = env.find("Deployment", "api-gateway")
        assert deployment is not None
        pod_spec(deployment)  # the template is there
        deployment.body["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"] = "gateway"

    assert check_references(broken_copy(renders("dev"), rename)) == [
        "Deployment/api-gateway: ConfigMap gateway is not rendered"
    ]


def test_a_closed_path_of_the_request_flow_is_caught(renders: Renders) -> None:
    broken = renders.with_overrides("local", {"catalog": {"networkPolicy": {"ingressFrom": ["api-gateway"]}}})
    assert check_network_flow(broken) == ["needed but denied: orders -> catalog:8081"]


def test_an_extra_path_is_caught(renders: Renders) -> None:
    broken = renders.with_overrides(
        "staging",
        {
            "frontend": {"networkPolicy": {"egressTo": [{"name": "catalog", "port": 8081}]}},
            "catalog": {"networkPolicy": {"ingressFrom": ["api-gateway", "orders", "frontend"]}},
        },
    )
    assert check_network_flow(broken) == ["allowed but not in the request flow: frontend -> catalog:8081"]


def test_a_workload_without_policy_is_open_and_caught(renders: Renders) -> None:
    broken = renders.with_overrides("local", {"redis": {"networkPolicy": {"enabled": False}}})
    problems = check_network_flow(broken)
    assert "allowed but not in the request flow: frontend -> redis:6379" not in problems  # frontend's egress holds
    assert "allowed but not in the request flow: lookalike-in-default-namespace -> redis:6379" in problems


def test_the_node_port_option_is_reachable_and_allowed(renders: Renders) -> None:
    """PRD FR-2.4 (docs/requirements.md#prd-fr-2-4): http://<node-ip>:30080 reaches the frontend when on."""
    rendered = renders.with_overrides("local", {"frontend": {"nodePort": {"enabled": True}}})
    service = rendered.find("Service", "frontend-nodeport")
    assert service is not None
    assert service.body["spec"]["type"] == "NodePort"
    assert service.body["spec"]["ports"] == [
        {"name": "http", "port": 3000, "targetPort": 3000, "nodePort": 30080, "protocol": "TCP"}
    ]
    assert check_network_flow(rendered) == []
    assert check_service_ports(rendered) == []


def test_the_efs_option_binds_the_claim_to_terraforms_access_point(renders: Renders) -> None:
    """Spec 3.5 (docs/requirements.md#spec-3-5): with persistence.efs on, catalog's claim binds a
    ReadWriteMany volume of the EFS CSI driver on the access point Terraform made, over TLS, and the
    pods mount it; an id that is not an EFS id is refused at render time, naming the value."""
    efs = {"enabled": True, "fileSystemId": "fs-0123456789abcdef0", "accessPointId": "fsap-0123456789abcdef0"}
    rendered = renders.with_overrides("staging", {"catalog": {"persistence": {"enabled": True, "efs": efs}}})
    volume = rendered.find("PersistentVolume", f"{rendered.namespace}-catalog-efs")
    claim = rendered.find("PersistentVolumeClaim", "catalog-data")
    assert volume is not None
    assert claim is not None
    assert volume.body["spec"]["csi"] == {
        "driver": "efs.csi.aws.com",
        "volumeHandle": "fs-0123456789abcdef0::fsap-0123456789abcdef0",
        "volumeAttributes": {"encryptInTransit": "true"},
    }
    assert volume.body["spec"]["claimRef"] == {"namespace": rendered.namespace, "name": "catalog-data"}
    assert claim.body["spec"]["volumeName"] == volume.body["metadata"]["name"]
    assert claim.body["spec"]["accessModes"] == volume.body["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim.body["spec"]["storageClassName"] == volume.body["spec"]["storageClassName"] == "efs"
    deployment = rendered.find("Deployment", "catalog")
    assert deployment is not None
    claims = [
        v["persistentVolumeClaim"]["claimName"] for v in pod_spec(deployment)["volumes"] if "persistentVolumeClaim" in v
    ]
    assert claims == ["catalog-data"]
    for check in WIRING_CHECKS:
        assert check(rendered) == [], check.__name__
    wrong = {**efs, "fileSystemId": "efs-123"}
    with pytest.raises(RenderError, match=r'persistence\.efs\.fileSystemId: "efs-123" is not an EFS file system id'):
        renders.with_overrides("staging", {"catalog": {"persistence": {"enabled": True, "efs": wrong}}})


def test_requests_above_limits_are_caught(renders: Renders) -> None:
    broken = renders.with_overrides(
        "prod", {"orders": {"resources": {"requests": {"cpu": "1500m", "memory": "768Mi"}, "limits": {"cpu": "1"}}}}
    )
    problems = check_requests_within_limits(broken)
    assert "Deployment/orders orders: requests cpu 1500m above its limit 1 (the API server refuses the pod)" in problems
    assert any(p.startswith("Deployment/orders orders: requests memory 768Mi above its limit 512Mi") for p in problems)
    assert all(p.startswith(("Deployment/orders", "Job/orders")) for p in problems), problems


def test_quantities_are_read_as_kubernetes_reads_them() -> None:
    assert quantity("250m") == 0.25
    assert quantity("1") == 1
    assert quantity("1Gi") == quantity("1024Mi") == 2**30
    assert quantity("1G") == 10**9
    assert quantity(2) == 2
    with pytest.raises(ValueError, match="not a Kubernetes quantity: '1 GB'"):
        quantity("1 GB")
