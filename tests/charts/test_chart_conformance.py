"""PRD conformance: what the PRD (2.3, FR-1..FR-6, NFR-2/4) and the spec (Requirement 5) ask of the
cluster, checked on the rendered output of every environment. Each check returns its problems;
the last tests break one item at a time and watch the check name it.

The ids cited here (FR-x.y, NFR-x, PRD 2.3, spec 5.1, Requirement 8) are rows of
docs/requirements.md: docs/requirements.md#prd-fr-1-3, #spec-5-1 and so on."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from shopfloor.delivery.render import Manifest, RenderedEnvironment, RenderError, environment_values
from tests.charts.chartkit import (
    ENVIRONMENT_VARIABLE,
    ENVIRONMENTS,
    INGRESS_CLASS,
    REPO,
    SERVICES,
    Renders,
    broken_copy,
    container_environment,
    container_ports,
    containers,
    controllers,
    main_container,
    pod_annotations,
    pod_labels,
    pod_spec,
    selector_matches,
    service_selector_matches,
)

Check = Callable[[RenderedEnvironment], list[str]]

# PRD 2.3 names three Services exactly; catalog, orders and redis follow the same pattern.
SERVICE_PORTS = {
    "frontend-service": 3000,
    "api-gateway-service": 8080,
    "postgresql-service": 5432,
    "catalog-service": 8081,
    "orders-service": 8082,
    "redis-service": 6379,
}
# The spec's Requirement 5.1: scale out above 70% CPU.
CPU_TARGET = 70
SENSITIVE = ("_KEY", "_PASSWORD", "_TOKEN", "_SECRET")


def service_deployments(env: RenderedEnvironment) -> list[Manifest]:
    found = [env.find("Deployment", name) for name in SERVICES]
    return [deployment for deployment in found if deployment is not None]


def check_services_are_deployed(env: RenderedEnvironment) -> list[str]:
    """FR-1.2: each application runs as a Deployment."""
    return [f"no Deployment {name}" for name in SERVICES if env.find("Deployment", name) is None]


def check_replicas_and_autoscaling(env: RenderedEnvironment) -> list[str]:
    """FR-1.3 at least two pods; spec 5.1-5.2 an autoscaling/v2 HPA on CPU at 70%, without a
    replicas field for it to fight over."""
    problems = []
    for deployment in service_deployments(env):
        hpa = next(
            (
                h
                for h in env.of_kind("HorizontalPodAutoscaler")
                if h.body["spec"]["scaleTargetRef"]["name"] == deployment.name
            ),
            None,
        )
        replicas = deployment.body["spec"].get("replicas")
        if hpa is None:
            if replicas is None or replicas < 2:
                problems.append(f"{deployment.ref}: {replicas} replicas and no autoscaler (FR-1.3 wants >= 2)")
            continue
        if replicas is not None:
            problems.append(f"{deployment.ref}: sets replicas although {hpa.ref} owns the count")
        spec = hpa.body["spec"]
        if hpa.body["apiVersion"] != "autoscaling/v2":
            problems.append(f"{hpa.ref}: {hpa.body['apiVersion']}, not autoscaling/v2")
        if spec["minReplicas"] < 2:
            problems.append(f"{hpa.ref}: minReplicas {spec['minReplicas']} < 2")
        cpu = [m for m in spec.get("metrics", []) if m.get("resource", {}).get("name") == "cpu"]
        if [m["resource"]["target"] for m in cpu] != [{"type": "Utilization", "averageUtilization": CPU_TARGET}]:
            problems.append(f"{hpa.ref}: CPU target {[m['resource']['target'] for m in cpu]}, spec says {CPU_TARGET}%")
        if spec.get("behavior", {}).get("scaleDown", {}).get("stabilizationWindowSeconds", 0) <= 0:
            problems.append(f"{hpa.ref}: scale-down without a stabilization window flaps on a dip")
    return problems


def check_probes(env: RenderedEnvironment) -> list[str]:
    """FR-1.4: liveness and readiness (and startup) probes on the services' own health paths."""
    wanted = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
    problems = []
    for deployment in service_deployments(env):
        container = main_container(deployment)
        for probe, path in wanted.items():
            got = container.get(probe, {}).get("httpGet", {}).get("path")
            if got != path:
                problems.append(f"{deployment.ref}: {probe} on {got}, not {path}")
    return problems


def check_zero_downtime_rollout(env: RenderedEnvironment) -> list[str]:
    """FR-6.5 / NFR-2: a rollout drops no request. New pods come up before old ones go; an old pod
    pauses (preStop) while it leaves the endpoints, then drains longer than readiness takes to
    notice, and the grace period outlasts the whole shutdown."""
    problems = []
    for deployment in service_deployments(env):
        strategy = deployment.body["spec"].get("strategy", {})
        if strategy.get("type") != "RollingUpdate" or strategy.get("rollingUpdate", {}).get("maxUnavailable") != 0:
            problems.append(f"{deployment.ref}: strategy {strategy} is not a rolling update with maxUnavailable 0")
        container = main_container(deployment)
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
        if not pre_stop:
            problems.append(f"{deployment.ref}: no preStop pause")
            pre_stop = 0
        variables = container_environment(env, deployment, container).values
        drain = float(variables.get("SHUTDOWN_DRAIN_SECONDS", 0))
        timeout = float(variables.get("SHUTDOWN_TIMEOUT_SECONDS", 20))
        grace = pod_spec(deployment).get("terminationGracePeriodSeconds", 30)
        if grace <= pre_stop + drain + timeout:
            problems.append(
                f"{deployment.ref}: grace {grace}s <= preStop {pre_stop}s + drain {drain:g}s + timeout {timeout:g}s"
            )
        readiness = container.get("readinessProbe", {})
        noticed = readiness.get("periodSeconds", 10) * readiness.get("failureThreshold", 3)
        if drain <= noticed:
            problems.append(f"{deployment.ref}: drain {drain:g}s <= {noticed}s readiness needs to notice")
    return problems


def check_disruptions_spread_and_resources(env: RenderedEnvironment) -> list[str]:
    problems = []
    budgets = env.of_kind("PodDisruptionBudget")
    for deployment in service_deployments(env):
        if not any(selector_matches(b.body["spec"]["selector"], pod_labels(deployment)) for b in budgets):
            problems.append(f"{deployment.ref}: no PodDisruptionBudget")
        keys = {c["topologyKey"] for c in pod_spec(deployment).get("topologySpreadConstraints") or []}
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone"):
            if key not in keys:
                problems.append(f"{deployment.ref}: not spread over {key}")
    for workload in controllers(env):
        for container in containers(workload):
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(resources.get(bound, {}))
                if missing:
                    problems.append(f"{workload.ref} {container['name']}: no {bound} for {', '.join(sorted(missing))}")
    return problems


def check_service_names(env: RenderedEnvironment) -> list[str]:
    """PRD 2.3: frontend-service:3000, api-gateway-service:8080, postgresql-service:5432 (port = targetPort).
    The first port is that one; a second may only be the `management` port (issue 16)."""
    problems = []
    for name, port in SERVICE_PORTS.items():
        service = env.find("Service", name)
        if service is None:
            problems.append(f"no Service {name}")
            continue
        ports = [
            (p["port"], p.get("targetPort")) for p in service.body["spec"]["ports"] if p.get("name") != "management"
        ]
        if ports != [(port, port)]:
            problems.append(f"{service.ref}: ports {ports}, PRD wants {port} -> {port}")
    return problems


def check_edge(env: RenderedEnvironment) -> list[str]:
    """FR-2.1-2.3: / to frontend-service, /api to api-gateway-service, one host, through Traefik
    (kind, K3s) or the AWS Load Balancer Controller's ALB (EKS), with TLS where the shop is public."""
    problems = []
    routes = {}
    hosts = set()
    for ingress in env.of_kind("Ingress"):
        spec = ingress.body["spec"]
        if spec.get("ingressClassName") != INGRESS_CLASS[env.environment]:
            problems.append(
                f"{ingress.ref}: class {spec.get('ingressClassName')}, not {INGRESS_CLASS[env.environment]}"
            )
        for rule in spec["rules"]:
            hosts.add(rule.get("host"))
            for path in rule["http"]["paths"]:
                service = path["backend"]["service"]
                routes[path["path"]] = (service["name"], service["port"].get("number"), path["pathType"])
        annotations = ingress.annotations
        if spec.get("ingressClassName") == "alb":
            if annotations.get("alb.ingress.kubernetes.io/target-type") != "ip":
                problems.append(f"{ingress.ref}: ALB target type is not ip (pods, so readiness drains them)")
            if not annotations.get("alb.ingress.kubernetes.io/certificate-arn"):
                problems.append(f"{ingress.ref}: ALB without a certificate")
            if annotations.get("alb.ingress.kubernetes.io/ssl-redirect") != "443":
                problems.append(f"{ingress.ref}: ALB does not redirect HTTP to HTTPS")
        elif env.environment != "local" and not spec.get("tls"):
            problems.append(f"{ingress.ref}: no TLS in {env.environment}")
    if routes != {
        "/": ("frontend-service", 3000, "Prefix"),
        "/api": ("api-gateway-service", 8080, "Prefix"),
    }:
        problems.append(f"edge routes {routes}")
    if len(hosts) != 1:
        problems.append(f"the routes are on several hosts: {hosts}")
    orders = {
        i.name: int(i.annotations.get("alb.ingress.kubernetes.io/group.order", 0)) for i in env.of_kind("Ingress")
    }
    if INGRESS_CLASS[env.environment] == "alb" and not orders.get("api-gateway", 0) < orders.get("frontend", 0):
        problems.append(f"ALB rule order {orders}: /api must be evaluated before the catch-all /")
    return problems


def check_configuration_and_secrets(env: RenderedEnvironment) -> list[str]:
    """FR-4.1 PUBLIC_API_URL in a ConfigMap; FR-4.2 / NFR-4 secrets from Secrets only, none in git
    (an existing Secret locally, External Secrets from AWS Secrets Manager elsewhere); FR-6.4 a
    configuration change rolls the pods (checksums)."""
    problems = []
    frontend_config = env.find("ConfigMap", "frontend-config")
    if frontend_config is None or not (frontend_config.body.get("data") or {}).get("PUBLIC_API_URL"):
        problems.append("ConfigMap frontend-config has no PUBLIC_API_URL")
    if env.of_kind("Secret"):
        problems.append("a Secret with values is rendered")
    for config_map in env.of_kind("ConfigMap"):
        leaked = [key for key in config_map.body.get("data") or {} if key.endswith(SENSITIVE)]
        if leaked:
            problems.append(f"{config_map.ref}: secret-looking keys in a ConfigMap: {leaked}")
    for workload in controllers(env):
        for container in containers(workload):
            literal = [v["name"] for v in container.get("env") or [] if v["name"].endswith(SENSITIVE) and "value" in v]
            if literal:
                problems.append(f"{workload.ref}: secret variables with literal values: {literal}")
    for deployment in service_deployments(env):
        container = main_container(deployment)
        sources = [s["configMapRef"]["name"] for s in container.get("envFrom", []) if "configMapRef" in s]
        if sources != [f"{deployment.name}-config"]:
            problems.append(f"{deployment.ref}: settings not from its ConfigMap ({sources})")
        annotations = pod_annotations(deployment)
        for checksum in ("checksum/config", "checksum/secret"):
            if len(annotations.get(checksum, "")) != 64:
                problems.append(f"{deployment.ref}: no {checksum} annotation to roll the pods on a change")
        uses_secrets = any("secretKeyRef" in v.get("valueFrom", {}) for v in container.get("env") or [])
        from_aws = bool(env.of_kind("ExternalSecret"))
        if uses_secrets and env.environment != "local" and not from_aws:
            problems.append(f"{deployment.ref}: secrets outside AWS Secrets Manager in {env.environment}")
    return problems


def check_database(env: RenderedEnvironment) -> list[str]:
    """FR-5.1-5.2: PostgreSQL on a PVC (local-path class on K3s) as one StatefulSet replica, one
    database and user per service; on AWS postgresql-service is an alias of RDS, so every service's
    DATABASE_URL is the same in every environment."""
    problems = []
    statefulset = env.find("StatefulSet", "postgresql")
    service = env.find("Service", "postgresql-service")
    in_cluster = env.environment in ("local", "dev")
    if in_cluster:
        if statefulset is None:
            return ["no in-cluster PostgreSQL StatefulSet"]
        if statefulset.body["spec"].get("replicas") != 1:
            problems.append(f"{statefulset.ref}: {statefulset.body['spec'].get('replicas')} replicas, wants 1 writer")
        claims = statefulset.body["spec"].get("volumeClaimTemplates") or []
        classes = [c["spec"].get("storageClassName") for c in claims]
        # kind's default class "standard" is the same rancher local-path provisioner K3s ships as local-path.
        wanted = "standard" if env.environment == "local" else "local-path"
        if classes != [wanted]:
            problems.append(f"{statefulset.ref}: volume classes {classes}, wants [{wanted}]")
        databases = set(
            (
                container_environment(env, statefulset, main_container(statefulset)).values.get("SHOPFLOOR_DATABASES")
                or ""
            ).split()
        )
    else:
        databases = set()
        if statefulset is not None:
            problems.append(f"{statefulset.ref}: in-cluster PostgreSQL in {env.environment}, which uses RDS")
        if service is None or service.body["spec"].get("type") != "ExternalName":
            problems.append(f"postgresql-service is not an ExternalName to RDS in {env.environment}")
    seen: dict[tuple[str, str], str] = {}
    for deployment in service_deployments(env):
        url = container_environment(env, deployment, main_container(deployment)).values.get("DATABASE_URL")
        if url is None:
            continue
        parts = urlsplit(url)
        if (parts.hostname, parts.port) != ("postgresql-service", 5432):
            problems.append(f"{deployment.ref}: DATABASE_URL goes to {parts.hostname}:{parts.port}")
        database, user = parts.path.lstrip("/"), parts.username or ""
        if (database, user) in seen:
            problems.append(f"{deployment.ref} shares database {database} as {user} with {seen[(database, user)]}")
        seen[(database, user)] = deployment.name
        if in_cluster and database not in databases:
            problems.append(f"{deployment.ref}: database {database} is not created by the PostgreSQL init script")
    return problems


def check_migrations(env: RenderedEnvironment) -> list[str]:
    """Migrations run as a Job before the new pods: a pre-install/pre-upgrade hook (Argo CD PreSync)."""
    problems = []
    for deployment in service_deployments(env):
        if "DATABASE_URL" not in container_environment(env, deployment, main_container(deployment)).values:
            continue
        job = env.find("Job", f"{deployment.name}-migrate")
        if job is None:
            problems.append(f"{deployment.ref} has a database and no migration Job")
            continue
        if not {"pre-install", "pre-upgrade"} <= set(job.hooks):
            problems.append(f"{job.ref}: hooks {job.hooks}, wants pre-install and pre-upgrade")
        if pod_spec(job).get("restartPolicy") != "Never" or "backoffLimit" not in job.body["spec"]:
            problems.append(f"{job.ref}: retries are not bounded by the Job")
        weight = int(job.annotations.get("helm.sh/hook-weight", "0"))
        for need in [pod_spec(job).get("serviceAccountName", "")]:
            account = env.find("ServiceAccount", need)
            if account is None or int(account.annotations.get("helm.sh/hook-weight", "0")) >= weight:
                problems.append(f"{job.ref}: its ServiceAccount {need} is not a hook created before it")
    return problems


def check_least_privilege(env: RenderedEnvironment) -> list[str]:
    """NFR-4 / Requirement 8: one ServiceAccount per service without an API token; non-root,
    read-only root filesystem with an emptyDir /tmp, no capabilities, RuntimeDefault seccomp;
    on EKS catalog reaches S3 through its IRSA role."""
    problems = []
    for workload in controllers(env):
        spec = pod_spec(workload)
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{workload.ref}: mounts an API token")
        pod_security = spec.get("securityContext", {})
        if (
            pod_security.get("runAsNonRoot") is not True
            or pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault"
        ):
            problems.append(f"{workload.ref}: pod may run as root or without the RuntimeDefault seccomp profile")
        for container in containers(workload):
            security = container.get("securityContext", {})
            if not (
                security.get("readOnlyRootFilesystem") is True
                and security.get("allowPrivilegeEscalation") is False
                and security.get("capabilities", {}).get("drop") == ["ALL"]
                and security.get("runAsNonRoot") is True
            ):
                problems.append(
                    f"{workload.ref} {container['name']}: not read-only, unprivileged and without capabilities"
                )
    for deployment in service_deployments(env):
        spec = pod_spec(deployment)
        account = env.find("ServiceAccount", spec.get("serviceAccountName", ""))
        if (
            account is None
            or account.name != deployment.name
            or account.body.get("automountServiceAccountToken") is not False
        ):
            problems.append(f"{deployment.ref}: not its own ServiceAccount without a token")
        tmp = {m["name"] for m in main_container(deployment).get("volumeMounts", []) if m["mountPath"] == "/tmp"}
        if not any(v["name"] in tmp and "emptyDir" in v for v in spec.get("volumes", [])):
            problems.append(f"{deployment.ref}: no emptyDir at /tmp for a read-only root filesystem")
    catalog_account = env.find("ServiceAccount", "catalog")
    if INGRESS_CLASS[env.environment] == "alb" and (
        catalog_account is None or "eks.amazonaws.com/role-arn" not in catalog_account.annotations
    ):
        problems.append("ServiceAccount/catalog has no IRSA role for S3 on EKS")
    return problems


def check_default_deny(env: RenderedEnvironment) -> list[str]:
    """Every pod is selected by a NetworkPolicy for both directions: what is not allowed is denied."""
    problems = []
    policies = env.of_kind("NetworkPolicy")
    for workload in controllers(env):
        directions: set[str] = set()
        for policy in policies:
            if selector_matches(policy.body["spec"]["podSelector"], pod_labels(workload)):
                directions.update(policy.body["spec"].get("policyTypes", []))
        if directions != {"Ingress", "Egress"}:
            problems.append(f"{workload.ref}: not denied by default ({sorted(directions)} only)")
    return problems


MANAGEMENT_PATHS = ("/metrics", "/livez", "/readyz", "/admin/faults")


def check_internal_paths_off_the_edge(env: RenderedEnvironment) -> list[str]:
    """Issue 16: /metrics, /livez, /readyz and /admin/faults are not reachable through the
    Ingress. The service serves them only on MANAGEMENT_PORT (shopfloor_common.server, proven on a
    real process by test_common_management_port) and answers them 404 on PORT; so every Ingress
    backend must land on PORT, never on MANAGEMENT_PORT, while the probes, the scrape annotation,
    the monitoring NetworkPolicy rule and the ALB health check use MANAGEMENT_PORT."""
    problems = []
    management_ports: dict[str, int] = {}
    for deployment in service_deployments(env):
        container = main_container(deployment)
        variables = container_environment(env, deployment, container).values
        port, management = variables.get("PORT"), variables.get("MANAGEMENT_PORT")
        if not management or management == port:
            problems.append(f"{deployment.ref}: MANAGEMENT_PORT={management!r} beside PORT={port!r}")
            continue
        management_ports[deployment.name] = int(management)
        named = container_ports(deployment)
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            target = container.get(probe, {}).get("httpGet", {}).get("port")
            if named.get(target) != int(management):
                problems.append(f"{deployment.ref}: {probe} on port {target}, not MANAGEMENT_PORT {management}")
        if pod_annotations(deployment).get("prometheus.io/port") != management:
            problems.append(
                f"{deployment.ref}: Prometheus scrapes port {pod_annotations(deployment).get('prometheus.io/port')}"
            )
    for ingress in env.of_kind("Ingress"):
        for rule in ingress.body["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = env.find("Service", backend["name"])
                if service is None:
                    continue  # check_ingress_backends names it
                wanted = backend["port"]
                [port_spec] = [
                    p
                    for p in service.body["spec"]["ports"]
                    if p["port"] == wanted.get("number") or p.get("name") == wanted.get("name")
                ] or [{}]
                workload = [
                    w
                    for w in service_deployments(env)
                    if service_selector_matches(service.body["spec"].get("selector") or {}, pod_labels(w))
                ]
                for deployment in workload:
                    target = port_spec.get("targetPort", port_spec.get("port"))
                    if container_ports(deployment).get(target) == management_ports.get(deployment.name):
                        problems.append(
                            f"{ingress.ref}: {path['path']} reaches the management port of {deployment.ref}"
                        )
        if ingress.body["spec"].get("ingressClassName") == "alb":
            name = ingress.body["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
            owner = name.removesuffix("-service")
            check_port = ingress.annotations.get("alb.ingress.kubernetes.io/healthcheck-port")
            if owner in management_ports and check_port != str(management_ports[owner]):
                problems.append(f"{ingress.ref}: the ALB health-checks port {check_port}, where /readyz is 404")
    for policy in env.of_kind("NetworkPolicy"):
        name = policy.body["metadata"]["name"]
        if name not in management_ports:
            continue
        scrape_ports = [
            port.get("port")
            for rule in policy.body["spec"].get("ingress", [])
            if any(
                peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                == "monitoring"
                for peer in rule.get("from", [])
            )
            for port in rule.get("ports", [])
        ]
        if scrape_ports != [management_ports[name]]:
            problems.append(
                f"{policy.ref}: monitoring may reach ports {scrape_ports}, not only {management_ports[name]}"
            )
    return problems


def check_environment_settings(env: RenderedEnvironment) -> list[str]:
    """Each service knows where it runs (fault injection is refused in prod) and runs the image
    the environment's image file names."""
    problems = []
    for deployment in service_deployments(env):
        container = main_container(deployment)
        variables = container_environment(env, deployment, container).values
        if variables.get("ENVIRONMENT") != ENVIRONMENT_VARIABLE[env.environment]:
            problems.append(f"{deployment.ref}: ENVIRONMENT={variables.get('ENVIRONMENT')}")
        image = environment_values(REPO, env.environment, deployment.name)["image"]
        wanted = f"{image['repository']}:{image['tag']}" + (f"@{image['digest']}" if image["digest"] else "")
        if container["image"] != wanted:
            problems.append(f"{deployment.ref}: runs {container['image']}, the image file says {wanted}")
    return problems


PRD_CHECKS: tuple[Check, ...] = (
    check_services_are_deployed,
    check_replicas_and_autoscaling,
    check_probes,
    check_zero_downtime_rollout,
    check_disruptions_spread_and_resources,
    check_service_names,
    check_edge,
    check_configuration_and_secrets,
    check_database,
    check_migrations,
    check_least_privilege,
    check_default_deny,
    check_internal_paths_off_the_edge,
    check_environment_settings,
)


@pytest.mark.parametrize("check", PRD_CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_conforms_to_the_prd(renders: Renders, environment: str, check: Check) -> None:
    assert check(renders(environment)) == []


def test_autoscaling_is_on_where_the_cluster_has_metrics(renders: Renders) -> None:
    """kind has no metrics-server: fixed replicas there, the HPA everywhere else."""
    for environment in ENVIRONMENTS:
        autoscaled = {h.name for h in renders(environment).of_kind("HorizontalPodAutoscaler")}
        assert autoscaled == (set() if environment == "local" else set(SERVICES)), environment


def test_a_configuration_change_rolls_the_pods_and_nothing_else_does(renders: Renders) -> None:
    """FR-6.4: the pod template changes exactly when its configuration (or Secret source) does."""

    def checksums(env: RenderedEnvironment) -> tuple[str, str]:
        deployment = env.find("Deployment", "catalog")
        assert deployment is not None
        annotations = pod_annotations(deployment)
        return annotations["checksum/config"], annotations["checksum/secret"]

    config, secret = checksums(renders("dev"))
    changed_config = checksums(renders.with_overrides("dev", {"catalog": {"config": {"LOG_LEVEL": "DEBUG"}}}))
    changed_secret = checksums(
        renders.with_overrides(
            "dev", {"catalog": {"secrets": {"externalSecret": {"remoteKey": "shopfloor/dev/catalog-2"}}}}
        )
    )
    unrelated = checksums(renders.with_overrides("dev", {"catalog": {"resources": {"limits": {"cpu": "2"}}}}))
    assert changed_config[0] != config
    assert changed_config[1] == secret
    assert changed_secret[1] != secret
    assert changed_secret[0] == config
    assert unrelated == (config, secret)


# --- each PRD check, shown failing on a deliberately broken render ---------------------------------


def _deployment(env: RenderedEnvironment, name: str) -> Manifest:
    deployment = env.find("Deployment", name)
    assert deployment is not None
    return deployment


def test_one_replica_is_caught(renders: Renders) -> None:
    def one_replica(env: RenderedEnvironment) -> None:
        _deployment(env, "frontend").body["spec"]["replicas"] = 1

    problems = check_replicas_and_autoscaling(broken_copy(renders("local"), one_replica))
    assert problems == ["Deployment/frontend: 1 replicas and no autoscaler (FR-1.3 wants >= 2)"]


def test_another_cpu_target_is_caught(renders: Renders) -> None:
    broken = renders.with_overrides("prod", {"orders": {"autoscaling": {"targetCPUUtilizationPercentage": 80}}})
    assert check_replicas_and_autoscaling(broken) == [
        "HorizontalPodAutoscaler/orders: CPU target [{'type': 'Utilization', 'averageUtilization': 80}], spec says 70%"
    ]


def test_a_probe_on_another_path_is_caught(renders: Renders) -> None:
    broken = renders.with_overrides("staging", {"frontend": {"probes": {"livenessPath": "/healthz"}}})
    assert check_probes(broken) == [
        "Deployment/frontend: startupProbe on /healthz, not /livez",
        "Deployment/frontend: livenessProbe on /healthz, not /livez",
    ]


def test_an_ingress_to_the_management_port_is_caught(renders: Renders) -> None:
    def exposed(env: RenderedEnvironment) -> None:
        ingress = env.find("Ingress", "frontend")
        assert ingress is not None
        ingress.body["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = {"name": "management"}

    broken = broken_copy(renders("staging"), exposed)
    assert check_internal_paths_off_the_edge(broken) == [
        "Ingress/frontend: / reaches the management port of Deployment/frontend"
    ]


def test_metrics_on_the_traffic_port_is_refused(renders: Renders) -> None:
    with pytest.raises(RenderError, match=re.escape("managementPort (8082) must differ from port")):
        renders.with_overrides("staging", {"orders": {"managementPort": 8082}})


def test_an_alb_health_check_on_the_traffic_port_is_caught(renders: Renders) -> None:
    def traffic_port(env: RenderedEnvironment) -> None:
        ingress = env.find("Ingress", "frontend")
        assert ingress is not None
        ingress.body["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-port"] = "traffic-port"

    broken = broken_copy(renders("prod"), traffic_port)
    assert check_internal_paths_off_the_edge(broken) == [
        "Ingress/frontend: the ALB health-checks port traffic-port, where /readyz is 404"
    ]


def test_a_rollout_that_drops_requests_is_caught(renders: Renders) -> None:
    def careless(env: RenderedEnvironment) -> None:
        deployment = _deployment(env, "api-gateway")
        deployment.body["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 1
        pod_spec(deployment)  # still there
        deployment.body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30

    problems = check_zero_downtime_rollout(broken_copy(renders("dev"), careless))
    assert problems == [
        "Deployment/api-gateway: strategy {'type': 'RollingUpdate', 'rollingUpdate': {'maxUnavailable': 1, "
        "'maxSurge': 1}} is not a rolling update with maxUnavailable 0",
        "Deployment/api-gateway: grace 30s <= preStop 5s + drain 15s + timeout 20s",
    ]


def test_a_renamed_service_is_caught(renders: Renders) -> None:
    def rename(env: RenderedEnvironment) -> None:
        service = env.find("Service", "frontend-service")
        assert service is not None
        service.body["metadata"]["name"] = "web"

    broken = broken_copy(renders("local"), rename)
    assert check_service_names(broken) == ["no Service frontend-service"]


def test_a_missing_public_api_url_is_caught(renders: Renders) -> None:
    def drop(env: RenderedEnvironment) -> None:
        config_map = env.find("ConfigMap", "frontend-config")
        assert config_map is not None
        del config_map.body["data"]["PUBLIC_API_URL"]

    broken = broken_copy(renders("prod"), drop)
    assert check_configuration_and_secrets(broken) == ["ConfigMap frontend-config has no PUBLIC_API_URL"]


def test_a_secret_value_in_git_is_caught(renders: Renders) -> None:
    # api-gateway reads no Secret locally, so the chart's own refusal (below) does not apply.
    broken = renders.with_overrides("local", {"api-gateway": {"config": {"ADMIN_API_KEY": "in-git-for-all-to-see"}}})
    assert check_configuration_and_secrets(broken) == [
        "ConfigMap/api-gateway-config: secret-looking keys in a ConfigMap: ['ADMIN_API_KEY']",
    ]


@pytest.mark.parametrize(
    ("environment", "service", "key"), [("local", "orders", "ADMIN_API_KEY"), ("prod", "catalog", "REDIS_URL")]
)
def test_the_chart_refuses_a_secret_key_with_a_plain_twin_in_config(
    renders: Renders, environment: str, service: str, key: str
) -> None:
    """A plain redis:// in the ConfigMap beside the rediss:// URL with its token in the Secret: the
    one the container ends up with depends on the order of env and envFrom."""
    with pytest.raises(RenderError, match=f"config.{key} is also in secrets.keys"):
        renders.with_overrides(environment, {service: {"config": {key: "redis://redis-service:6379/0"}}})


def test_a_wrong_ingress_class_is_caught(renders: Renders) -> None:
    broken = renders.with_overrides("dev", {"api-gateway": {"ingress": {"className": "alb"}}})
    problems = check_edge(broken)
    assert "Ingress/api-gateway: class alb, not traefik" in problems


def test_a_database_shared_between_services_is_caught(renders: Renders) -> None:
    broken = renders.with_overrides("dev", {"orders": {"database": {"name": "catalog", "user": "catalog"}}})
    assert check_database(broken) == ["Deployment/orders shares database catalog as catalog with catalog"]


def test_a_writable_root_filesystem_is_caught(renders: Renders) -> None:
    def writable(env: RenderedEnvironment) -> None:
        job = env.find("Job", "catalog-migrate")
        assert job is not None
        job.body["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False

    assert check_least_privilege(broken_copy(renders("staging"), writable)) == [
        "Job/catalog-migrate migrate: not read-only, unprivileged and without capabilities"
    ]


def test_a_pod_without_network_policy_is_caught(renders: Renders) -> None:
    broken = renders.with_overrides("local", {"postgresql": {"networkPolicy": {"enabled": False}}})
    assert check_default_deny(broken) == ["StatefulSet/postgresql: not denied by default ([] only)"]
