"""The cross-layer contract checked from both ends (issue 17; docs/cross-layer-contract.md).

The producer is Terraform: `terraform/modules/contract` evaluated by the real terraform binary
(`TerraformWorkspace.contract(env)`), the same values the stack builds its resources from. The
consumers are what Argo CD applies and what the services read: each environment's manifests
rendered with Helm's engine (NetworkPolicies, ConfigMaps, ExternalSecrets, ServiceAccounts,
Services, Ingresses, Deployments), the add-on Applications argocd/addons renders per cluster (their
Helm values), the ClusterSecretStore of each cluster. Every check takes the contract (output name
-> value, as `terraform output -json` gives it) and one consumer, and returns one sentence per
mismatch, empty when both ends agree. The tests feed them broken copies to show each one failing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from shopfloor.delivery.render import RenderedEnvironment, load_values
from tests.charts.chartkit import container_environment, controllers, main_container, pod_spec
from tests.gitops.argocdkit import render_chart

Contract = Mapping[str, Any]
# The environments on AWS (each has environments/<env>/infrastructure.yaml); local is kind.
AWS_ENVIRONMENTS = ("dev", "staging", "prod")
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
RELOAD_ANNOTATION = "secret.reloader.stakater.com/reload"
# The longest a rotated value may wait before External Secrets copies it into the Secret.
MAX_REFRESH_SECONDS = 3600
DATA_STORE_SERVICES = {"postgresql": "postgresql-service", "redis": "redis-service"}


# ---------------------------------------------------------------------------------------------
# Reading the consumers


def addon_values(repo: Path, cluster: str) -> dict[str, dict[str, Any]]:
    """Enabled add-on name -> its Helm values, as the root Application renders argocd/addons."""
    values = load_values([repo / "argocd" / "addons" / f"values-{cluster}.yaml"])
    manifests = render_chart(repo, "argocd/addons", values, release="addons", namespace="argocd")
    return {
        manifest.name: dict(manifest.body["spec"]["source"].get("helm", {}).get("valuesObject") or {})
        for manifest in manifests
        if manifest.kind == "Application"
    }


def secret_store(repo: Path, cluster: str) -> dict[str, Any]:
    path = repo / "argocd" / "secret-stores" / cluster / "cluster-secret-store.yaml"
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


def _seconds(interval: str) -> int:
    return int(interval[:-1]) * {"s": 1, "m": 60, "h": 3600}[interval[-1]]


def _dig(node: Mapping[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


# ---------------------------------------------------------------------------------------------
# Rendered environments


def _port_rules(policy: Mapping[str, Any], direction: str, port: int) -> list[Mapping[str, Any]]:
    peers_key = "to" if direction == "egress" else "from"
    return [
        peer
        for rule in policy["spec"].get(direction) or []
        if any(p.get("port") == port for p in rule.get("ports") or [])
        for peer in rule.get(peers_key) or []
    ]


def _ip_blocks(peers: list[Mapping[str, Any]]) -> set[str]:
    return {str(peer["ipBlock"]["cidr"]) for peer in peers if "ipBlock" in peer}


def check_data_store_egress(contract: Contract, env: RenderedEnvironment) -> list[str]:
    """Pods that reach a managed data store are allowed to reach it in every zone's database
    subnet, and nowhere else on its port (a Multi-AZ failover moves the primary to another zone)."""
    problems = []
    wanted = set(contract["subnets"]["database"])
    for store, service in DATA_STORE_SERVICES.items():
        facts = contract["data_stores"][store]
        for policy in env.of_kind("NetworkPolicy"):
            blocks = _ip_blocks(_port_rules(policy.body, "egress", int(facts["port"])))
            if facts["chart_mode"] == "inCluster":
                if blocks:
                    problems.append(f"{policy.ref}: {store} runs in the cluster, yet egress to {sorted(blocks)}")
                continue
            if not blocks:
                continue
            if missing := wanted - blocks:
                problems.append(f"{policy.ref}: {store} egress lacks the database subnets {sorted(missing)}")
            if extra := blocks - wanted:
                problems.append(f"{policy.ref}: {store} egress to {sorted(extra)}, not a database subnet")
        if facts["chart_mode"] == "inCluster":
            continue
        # Every pod configured to use the store must have an egress policy naming the subnets.
        for workload in controllers(env):
            uses = any(
                (urlsplit(value).hostname or "") == service
                for container in pod_spec(workload).get("containers", [])
                for name, value in container_environment(env, workload, container).values.items()
                # A migration Job uses only its database (what tests/charts' flow plan says too).
                if name.endswith("_URL") and (workload.kind != "Job" or name == "DATABASE_URL")
            )
            if not uses:
                continue
            labels = workload.body["spec"]["template"]["metadata"]["labels"]
            selecting = [
                p
                for p in env.of_kind("NetworkPolicy")
                if all(labels.get(k) == v for k, v in p.body["spec"]["podSelector"].get("matchLabels", {}).items())
                and "Egress" in p.body["spec"].get("policyTypes", [])
            ]
            blocks = set().union(*(_ip_blocks(_port_rules(p.body, "egress", int(facts["port"]))) for p in selecting))
            if selecting and not wanted <= blocks:
                problems.append(
                    f"{workload.ref}: uses {store} but may not reach the database subnets {sorted(wanted - blocks)}"
                )
    return problems


def check_edge(contract: Contract, env: RenderedEnvironment) -> list[str]:
    """On EKS the ALB (target type ip) reaches the pods from the public subnets: every zone's,
    and no address block the VPC does not have. Every Ingress serves the contract's host."""
    problems = []
    for ingress in env.of_kind("Ingress"):
        hosts = {rule.get("host") for rule in ingress.body["spec"].get("rules", [])}
        if hosts != {contract["host"]}:
            problems.append(f"{ingress.ref}: host {sorted(map(str, hosts))}, the contract says {contract['host']}")
        if ingress.body["spec"].get("ingressClassName") != contract["edge"]["ingress"]:
            problems.append(
                f"{ingress.ref}: class {ingress.body['spec'].get('ingressClassName')}, "
                f"the edge is {contract['edge']['ingress']}"
            )
    if contract["edge"]["kind"] != "alb":
        return problems
    wanted = set(contract["subnets"]["public"])
    for ingress in env.of_kind("Ingress"):
        service = ingress.body["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        workload = env.find("Deployment", str(service["name"]).removesuffix("-service"))
        if workload is None:
            continue
        port = int(main_container(workload)["ports"][0]["containerPort"])
        blocks: set[str] = set()
        for policy in env.of_kind("NetworkPolicy"):
            labels = workload.body["spec"]["template"]["metadata"]["labels"]
            if all(labels.get(k) == v for k, v in policy.body["spec"]["podSelector"].get("matchLabels", {}).items()):
                blocks |= _ip_blocks(_port_rules(policy.body, "ingress", port))
        if missing := wanted - blocks:
            problems.append(f"{workload.ref}: the ALB cannot reach it from the public subnets {sorted(missing)}")
        if extra := blocks - wanted:
            problems.append(f"{workload.ref}: admits {sorted(extra)}, not a public subnet of the VPC")
    return problems


def _external_secret_refs(env: RenderedEnvironment) -> dict[tuple[str, str], tuple[str, str]]:
    """(Secret, key) -> (Secrets Manager name, property) for every ExternalSecret of the render."""
    refs = {}
    for external in env.of_kind("ExternalSecret"):
        target = external.body["spec"]["target"]["name"]
        for item in external.body["spec"].get("data") or []:
            refs[(target, item["secretKey"])] = (item["remoteRef"]["key"], item["remoteRef"].get("property", ""))
    return refs


def check_secrets(contract: Contract, env: RenderedEnvironment) -> list[str]:
    """Every ExternalSecret reads a secret the contract declares (Terraform creates it, External
    Secrets may read it), a property put-secrets.sh fills, from the contract's store; a service's
    DATABASE_PASSWORD is its property in the postgresql secret (the one the database has too)."""
    problems = []
    declared = {entry["name"]: set(entry["properties"]) for entry in contract["secrets"].values()}
    store = contract["secret_store"]["name"]
    for external in env.of_kind("ExternalSecret"):
        reference = external.body["spec"]["secretStoreRef"]
        if reference.get("kind") != "ClusterSecretStore" or reference.get("name") != store:
            problems.append(f"{external.ref}: store {reference.get('kind')}/{reference.get('name')}, not {store}")
        interval = str(external.body["spec"].get("refreshInterval", "1h"))
        if _seconds(interval) > MAX_REFRESH_SECONDS:
            problems.append(f"{external.ref}: refreshInterval {interval}: a rotation waits longer than an hour")
        for item in external.body["spec"].get("data") or []:
            key, prop = item["remoteRef"]["key"], item["remoteRef"].get("property")
            if is_rds_master_secret(contract, key):
                if prop not in ("username", "password"):
                    problems.append(f"{external.ref}: {item['secretKey']} reads RDS's master secret property {prop}")
                continue
            if key not in declared:
                problems.append(f"{external.ref}: {item['secretKey']} reads {key}, a secret Terraform does not declare")
            elif prop not in declared[key]:
                problems.append(
                    f"{external.ref}: {item['secretKey']} reads {key} property {prop}, which it does not hold "
                    f"({', '.join(sorted(declared[key]))})"
                )
    refs = _external_secret_refs(env)
    postgresql = contract["secrets"]["postgresql"]["name"]
    for workload in env.of_kind("Deployment"):
        for variable in main_container(workload).get("env") or []:
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if variable["name"] != "DATABASE_PASSWORD" or ref is None or (ref["name"], ref["key"]) not in refs:
                continue
            wanted = (postgresql, f"{workload.name}-password")
            if refs[(ref["name"], ref["key"])] != wanted:
                problems.append(
                    f"{workload.ref}: DATABASE_PASSWORD from {refs[(ref['name'], ref['key'])]}, not {wanted} "
                    "(the password the database was given)"
                )
    return problems


def is_rds_master_secret(contract: Contract, key: str) -> bool:
    """RDS's own secret for the master user (terraform output rds_master_secret_arn: only the apply
    knows its name), in the contract's account and region, where the contract says RDS."""
    prefix = f"arn:aws:secretsmanager:{contract['region']}:{contract['account_id']}:secret:rds!"
    return contract["data_stores"]["postgresql"]["kind"] == "rds" and key.startswith(prefix)


def check_database_bootstrap(contract: Contract, env: RenderedEnvironment) -> list[str]:
    """On RDS something must create each service's database and role before the services migrate:
    the postgresql chart's bootstrap Job, as the master user, with each service's password from
    the property the service reads."""
    if contract["data_stores"]["postgresql"]["kind"] != "rds":
        return []
    jobs = [
        j for j in env.of_kind("Job") if j.body["metadata"]["labels"].get("app.kubernetes.io/component") == "bootstrap"
    ]
    if not jobs:
        return [f"nothing creates the services' databases and roles on RDS ({contract['name']}): no bootstrap Job"]
    refs = _external_secret_refs(env)
    problems = []
    databases = str(
        next(v["value"] for v in main_container(jobs[0])["env"] if v["name"] == "SHOPFLOOR_DATABASES")
    ).split()
    secret = contract["secrets"]["postgresql"]
    for database in databases:
        source = refs.get((jobs[0].name, f"{database}-password"))
        if source != (secret["name"], f"{database}-password"):
            problems.append(f"{jobs[0].ref}: {database}'s password from {source}, the service reads {secret['name']}")
    for key in ("master-username", "master-password"):
        source = refs.get((jobs[0].name, key))
        if source is None or not is_rds_master_secret(contract, source[0]):
            problems.append(f"{jobs[0].ref}: {key} from {source}, not RDS's master secret")
    return problems


def check_redis(contract: Contract, env: RenderedEnvironment) -> list[str]:
    """Where Redis requires TLS and AUTH (ElastiCache), REDIS_URL reaches the pods only from the
    Secret put-secrets.sh fills (rediss:// with the token); a plain URL would make the cache and
    the rate limit fail open. In-cluster, a plain URL to redis-service."""
    problems = []
    facts = contract["data_stores"]["redis"]
    refs = _external_secret_refs(env)
    for workload in env.of_kind("Deployment"):
        container = main_container(workload)
        values = container_environment(env, workload, container).values
        if "REDIS_URL" not in values:
            continue
        from_secret = [
            v["valueFrom"]["secretKeyRef"]
            for v in container.get("env") or []
            if v["name"] == "REDIS_URL" and "secretKeyRef" in v.get("valueFrom", {})
        ]
        if facts["auth_required"]:
            if not from_secret:
                secret = contract["secrets"]["redis"]["name"]
                problems.append(
                    f"{workload.ref}: REDIS_URL is {values['REDIS_URL']!r} in plain configuration: {facts['kind']} "
                    f"requires TLS and AUTH ({facts['url_scheme']}:// with the token, from {secret})"
                )
                continue
            source = refs.get((from_secret[0]["name"], from_secret[0]["key"]))
            wanted = (contract["secrets"]["redis"]["name"], "url")
            if source != wanted:
                problems.append(
                    f"{workload.ref}: REDIS_URL from {source}, not {wanted} (rediss:// with the AUTH token)"
                )
            config_map = env.find("ConfigMap", f"{workload.name}-config")
            if config_map is not None and "REDIS_URL" in (config_map.body.get("data") or {}):
                problems.append(f"{config_map.ref}: a plain REDIS_URL beside the one in the Secret")
        else:
            parsed = urlsplit(values["REDIS_URL"])
            if parsed.scheme != facts["url_scheme"] or parsed.hostname != DATA_STORE_SERVICES["redis"]:
                problems.append(
                    f"{workload.ref}: REDIS_URL {values['REDIS_URL']!r}, want {facts['url_scheme']}://redis-service"
                )
    return problems


def check_data_store_services(contract: Contract, env: RenderedEnvironment) -> list[str]:
    """postgresql-service and redis-service: a StatefulSet/Deployment in the cluster, or an
    ExternalName to the private zone's name Terraform's Route 53 record has."""
    problems = []
    for store, service_name in DATA_STORE_SERVICES.items():
        facts = contract["data_stores"][store]
        service = env.find("Service", service_name)
        if service is None:
            problems.append(f"no Service {service_name}")
            continue
        spec = service.body["spec"]
        if facts["chart_mode"] == "externalName":
            if spec.get("type") != "ExternalName" or spec.get("externalName") != facts["external_dns"]:
                problems.append(
                    f"{service.ref}: {spec.get('type')} {spec.get('externalName', '')}, "
                    f"the contract says ExternalName {facts['external_dns']}"
                )
        elif spec.get("type") == "ExternalName":
            problems.append(f"{service.ref}: an ExternalName, but {store} runs in the cluster")
        ports = [int(p["port"]) for p in spec.get("ports") or []]
        if ports and int(facts["port"]) not in ports:
            problems.append(f"{service.ref}: ports {ports}, the contract says {facts['port']}")
    return problems


def check_workloads(contract: Contract, env: RenderedEnvironment) -> list[str]:
    """The catalog's images bucket, region and IAM role; every pod's UID (the EFS access point's
    owner); the frontend NodePort; a rotated Secret rolls the pods that read it (Reloader)."""
    problems = []
    catalog_account = contract["service_accounts"]["catalog"]
    for workload in env.of_kind("Deployment"):
        values = container_environment(env, workload, main_container(workload)).values
        if "S3_BUCKET" in values and values["S3_BUCKET"] != contract["buckets"]["images"]:
            problems.append(
                f"{workload.ref}: S3_BUCKET {values['S3_BUCKET']}, Terraform makes {contract['buckets']['images']}"
            )
        if "AWS_REGION" in values and values["AWS_REGION"] != contract["region"]:
            problems.append(f"{workload.ref}: AWS_REGION {values['AWS_REGION']}, not {contract['region']}")
        uid = (pod_spec(workload).get("securityContext") or {}).get("runAsUser")
        if workload.name in ("frontend", "api-gateway", "catalog", "orders") and uid != contract["workload_uid"]:
            problems.append(f"{workload.ref}: runs as {uid}, the EFS access point owner is {contract['workload_uid']}")
        secrets = {
            v["valueFrom"]["secretKeyRef"]["name"]
            for v in main_container(workload).get("env") or []
            if "secretKeyRef" in v.get("valueFrom", {})
        }
        synced = secrets & {e.body["spec"]["target"]["name"] for e in env.of_kind("ExternalSecret")}
        reloads = {s.strip() for s in workload.annotations.get(RELOAD_ANNOTATION, "").split(",") if s.strip()}
        if missing := synced - reloads:
            problems.append(
                f"{workload.ref}: a rotation of {sorted(missing)} never reaches its pods (no {RELOAD_ANNOTATION})"
            )
    account = env.find("ServiceAccount", catalog_account["service_account"])
    if account is not None:
        arn = account.annotations.get(ROLE_ANNOTATION)
        if arn != catalog_account["role_arn"]:
            problems.append(f"{account.ref}: role {arn}, the contract says {catalog_account['role_arn']}")
    node_ports = [s for s in env.of_kind("Service") if s.body["spec"].get("type") == "NodePort"]
    frontend_ports = [
        int(p["nodePort"]) for s in node_ports if s.name.startswith("frontend") for p in s.body["spec"]["ports"]
    ]
    opened = contract["ports"]["frontend_node_port"]
    if contract["frontend_node_port_enabled"] and frontend_ports != [opened]:
        problems.append(f"the frontend NodePort is {frontend_ports or 'off'}; Terraform opens {opened}")
    if not contract["frontend_node_port_enabled"] and frontend_ports:
        problems.append(f"the frontend NodePort {frontend_ports} is on, but Terraform opens no port for it")
    return problems


def check_environment(contract: Contract, env: RenderedEnvironment) -> list[str]:
    return [
        *check_data_store_egress(contract, env),
        *check_edge(contract, env),
        *check_secrets(contract, env),
        *check_database_bootstrap(contract, env),
        *check_redis(contract, env),
        *check_data_store_services(contract, env),
        *check_workloads(contract, env),
    ]


# ---------------------------------------------------------------------------------------------
# Argo CD: the add-ons and the ClusterSecretStore


def _role_problems(contract: Contract, addon: str, key: str, values: Mapping[str, Any], *path: str) -> list[str]:
    account = contract["service_accounts"][key]
    where = ".".join(path)
    problems = []
    if _dig(values, *path, "name") != account["service_account"]:
        problems.append(
            f"{addon}: {where}.name {_dig(values, *path, 'name')}, the role trusts {account['service_account']}"
        )
    arn = _dig(values, *path, "annotations", ROLE_ANNOTATION)
    if arn != account["role_arn"]:
        wanted = account["role_arn"] or "none (K3s: no IRSA, the node role)"
        problems.append(f"{addon}: {where} role {arn}, Terraform makes {wanted}")
    return problems


def check_addons(contract: Contract, addons: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The add-ons a platform needs are enabled, and each names what Terraform made: the IRSA role
    of its ServiceAccount (none on K3s), the cluster, region and VPC."""
    problems = []
    on_eks = contract["platform"] == "eks"
    needed = {"external-secrets", "reloader"} | (
        {"aws-load-balancer-controller", "cluster-autoscaler", "metrics-server"} if on_eks else set()
    )
    if contract["edge"]["certificates"] == "cert-manager":
        needed.add("cert-manager")
    if missing := needed - set(addons):
        problems.append(f"{contract['name']}: add-ons {sorted(missing)} are not enabled")
    if "external-secrets" in addons:
        problems += _role_problems(
            contract, "external-secrets", "external-secrets", addons["external-secrets"], "serviceAccount"
        )
    if "aws-load-balancer-controller" in addons:
        values = addons["aws-load-balancer-controller"]
        problems += _role_problems(
            contract, "aws-load-balancer-controller", "aws-load-balancer-controller", values, "serviceAccount"
        )
        for key, wanted in (
            ("clusterName", contract["name"]),
            ("region", contract["region"]),
            ("vpcTags", contract["vpc"]["tags"]),
        ):
            if values.get(key) != wanted:
                problems.append(f"aws-load-balancer-controller: {key} {values.get(key)!r}, want {wanted!r}")
    if "cluster-autoscaler" in addons:
        values = addons["cluster-autoscaler"]
        problems += _role_problems(
            contract, "cluster-autoscaler", "cluster-autoscaler", values, "rbac", "serviceAccount"
        )
        if values.get("awsRegion") != contract["region"]:
            problems.append(f"cluster-autoscaler: awsRegion {values.get('awsRegion')!r}, want {contract['region']!r}")
        if _dig(values, "autoDiscovery", "clusterName") != contract["name"]:
            problems.append(f"cluster-autoscaler: autoDiscovery.clusterName is not {contract['name']}")
    return problems


def check_secret_store(contract: Contract, store: Mapping[str, Any]) -> list[str]:
    """The ClusterSecretStore every ExternalSecret names: its name, region, and an auth that works
    on the platform (IRSA through the external-secrets ServiceAccount on EKS; on K3s no auth
    block: the default credential chain reaches the node role)."""
    problems = []
    wanted = contract["secret_store"]
    if store.get("kind") != "ClusterSecretStore" or _dig(store, "metadata", "name") != wanted["name"]:
        problems.append(
            f"the ClusterSecretStore is {store.get('kind')}/{_dig(store, 'metadata', 'name')}, not {wanted['name']}"
        )
    aws = _dig(store, "spec", "provider", "aws") or {}
    if aws.get("region") != wanted["region"]:
        problems.append(
            f"the ClusterSecretStore's region is {aws.get('region')}, the secrets are in {wanted['region']}"
        )
    auth = aws.get("auth")
    if wanted["auth"] == "irsa":
        account = contract["service_accounts"]["external-secrets"]
        reference = _dig(auth or {}, "jwt", "serviceAccountRef") or {}
        if (reference.get("name"), reference.get("namespace")) != (account["service_account"], account["namespace"]):
            problems.append(
                f"the ClusterSecretStore authenticates as {reference or auth}, not IRSA of {account['service_account']}"
            )
    elif auth is not None:
        problems.append(
            f"the ClusterSecretStore authenticates with {sorted(auth)} on {contract['platform']}: no IRSA there, "
            "the node role answers through the default credential chain (no auth block)"
        )
    return problems


# ---------------------------------------------------------------------------------------------
# Network facts are carved from the VPC: a sanity check on the producer itself


def check_subnet_plan(contract: Contract) -> list[str]:
    """One subnet per zone per tier, inside the VPC, none overlapping (what every check above
    trusts the contract for)."""
    problems = []
    vpc = ipaddress.ip_network(contract["vpc"]["cidr"])
    zones = int(contract["vpc"]["availability_zone_count"])
    networks = []
    for tier, cidrs in contract["subnets"].items():
        if len(cidrs) != zones:
            problems.append(f"{tier}: {len(cidrs)} subnets for {zones} zones")
        for cidr in cidrs:
            network = ipaddress.ip_network(cidr)
            if not network.subnet_of(vpc):  # type: ignore[arg-type]
                problems.append(f"{tier} {cidr} is outside the VPC {vpc}")
            networks.append(network)
    for i, a in enumerate(networks):
        for b in networks[i + 1 :]:
            if a.overlaps(b):
                problems.append(f"{a} overlaps {b}")
    return problems
