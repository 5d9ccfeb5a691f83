"""The exporters and the log shipper as each cluster's add-on Applications configure them
(argocd/addons rendered per cluster), held to what the other layers expect of them:

- YACE exports exactly the series RDSConnectionsNearLimit (observability/rules/aws.yaml) reads,
  named as YACE names them, under the ServiceAccount and IRSA role terraform/modules/yace-iam trusts;
- postgres_exporter and redis_exporter reach the Services the data charts render in every
  environment, with a Secret key the environment has, TLS where PostgreSQL is RDS, and the
  in-cluster data stores' NetworkPolicies let them in;
- aws-for-fluent-bit writes to the group terraform/modules/logs makes, under the ServiceAccount and
  role it trusts, and does not create groups.

Only the configuration is checked: no cluster, CloudWatch or exporter runs here (the data rules'
metric names are checked against real exporters in test_alert_rules.py).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from shopfloor.delivery.render import ChartSet, RenderedEnvironment, load_values, render_environment
from tests.gitops.argocdkit import render_chart
from tests.observability.alertkit import REPO
from tests.terraform.terraformkit import MODULES, named, parse

CLUSTERS = ("local", "dev", "staging", "prod")
NAMESPACE = "shopfloor"


@functools.cache
def applications(cluster: str) -> dict[str, dict[str, Any]]:
    values = load_values([REPO / "argocd" / "addons" / f"values-{cluster}.yaml"])
    manifests = render_chart(REPO, "argocd/addons", values, release="addons", namespace="argocd")
    return {m.name: m.body for m in manifests if m.kind == "Application"}


def addon_values(cluster: str, name: str) -> dict[str, Any] | None:
    app = applications(cluster).get(name)
    return None if app is None else dict(app["spec"]["source"]["helm"].get("valuesObject", {}))


def facts(cluster: str) -> dict[str, Any]:
    path = REPO / "environments" / cluster / "infrastructure.yaml"
    if not path.is_file():  # kind: no AWS, everything in the cluster
        return {"platform": "kind", "postgresql": "inCluster", "redis": "inCluster"}
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def module_default(module: str, variable: str) -> str:
    return str(named(parse(MODULES / module), "variable")[variable]["default"])


@pytest.fixture(scope="module")
def rendered() -> Iterator[dict[str, RenderedEnvironment]]:
    with ChartSet(REPO) as charts:
        yield {cluster: render_environment(charts, cluster) for cluster in CLUSTERS}


# --- YACE ---------------------------------------------------------------------------------------


def yace_metric_names(config: dict[str, Any]) -> set[tuple[str, str]]:
    """(metric name, dimension label) YACE exports for each discovery job's metric and statistic:
    aws_<namespace without AWS/, lower case>_<metric in snake case>_<statistic, lower case>, and
    the resource's dimension as dimension_<Name> (YACE's promutil BuildMetricName)."""
    dimension = {"AWS/RDS": "dimension_DBInstanceIdentifier"}
    names = set()
    for job in config["discovery"]["jobs"]:
        namespace = job["type"].removeprefix("AWS/").lower()
        for metric in job["metrics"]:
            snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", metric["name"]).lower()
            for statistic in metric["statistics"]:
                names.add((f"aws_{namespace}_{snake}_{statistic.lower()}", dimension[job["type"]]))
    return names


def rds_rule_series() -> tuple[str, str]:
    rules = yaml.safe_load((REPO / "observability" / "rules" / "aws.yaml").read_text(encoding="utf-8"))
    rule = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "RDSConnectionsNearLimit")
    metric = re.search(r"\b(aws_rds_\w+)\{(\w+)=", rule["expr"])
    assert metric is not None
    return metric.group(1), metric.group(2)


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_yace_runs_where_rds_does_and_exports_what_the_rule_reads(cluster: str) -> None:
    values = addon_values(cluster, "prometheus-yet-another-cloudwatch-exporter")
    assert (values is not None) == (facts(cluster)["postgresql"] == "rds")
    if values is None:
        return
    config = yaml.safe_load(values["config"])
    assert rds_rule_series() in yace_metric_names(config)
    region = facts(cluster)["region"]
    assert config["sts-region"] == region
    assert all(job["regions"] == [region] for job in config["discovery"]["jobs"])
    # The ServiceAccount and role yace-iam trusts ("${var.name_prefix}-yace", the stack's name_prefix
    # = shopfloor-<environment>).
    assert applications(cluster)["prometheus-yet-another-cloudwatch-exporter"]["spec"]["destination"][
        "namespace"
    ] == module_default("yace-iam", "namespace")
    account = values["serviceAccount"]
    assert account["name"] == module_default("yace-iam", "service_account")
    assert '"${var.name_prefix}-yace"' in (MODULES / "yace-iam" / "main.tf").read_text(encoding="utf-8")
    assert account["annotations"]["eks.amazonaws.com/role-arn"].endswith(f":role/shopfloor-{cluster}-yace")
    assert values["serviceMonitor"]["enabled"] is True
    assert values["service"]["enabled"] is True


def test_the_yace_check_fails_on_another_statistic() -> None:
    config = {
        "discovery": {
            "jobs": [{"type": "AWS/RDS", "metrics": [{"name": "DatabaseConnections", "statistics": ["Average"]}]}]
        }
    }
    assert yace_metric_names(config) == {("aws_rds_database_connections_average", "dimension_DBInstanceIdentifier")}
    assert rds_rule_series() not in yace_metric_names(config)


# --- postgres_exporter and redis_exporter -------------------------------------------------------


def exporter_problems(cluster: str, env: RenderedEnvironment) -> list[str]:
    problems = []
    postgres = addon_values(cluster, "prometheus-postgres-exporter")
    if postgres is None:
        return [f"{cluster}: no postgres_exporter (the data rules and RDSConnectionsNearLimit need it)"]
    source = postgres["config"]["datasource"]
    apps = applications(cluster)
    if apps["prometheus-postgres-exporter"]["spec"]["destination"]["namespace"] != NAMESPACE:
        problems.append(f"{cluster}: postgres_exporter is not in {NAMESPACE}, where its Secret is")
    if env.find("Service", source["host"]) is None:
        problems.append(f"{cluster}: postgres_exporter connects to {source['host']}, which is no Service here")
    secret, key = source["passwordSecret"]["name"], source["passwordSecret"]["key"]
    owners = [
        d
        for d in env.of_kind("Deployment")
        for c in d.body["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
        if e.get("valueFrom", {}).get("secretKeyRef", {}) == {"name": secret, "key": key}
    ]
    if not owners:
        problems.append(f"{cluster}: no workload reads Secret {secret} key {key}: it may not exist")
    managed = facts(cluster)["postgresql"] == "rds"
    if (source["sslmode"] == "require") != managed:
        problems.append(f"{cluster}: sslmode {source['sslmode']} for PostgreSQL {facts(cluster)['postgresql']}")
    if postgres["serviceMonitor"]["enabled"] is not True:
        problems.append(f"{cluster}: postgres_exporter is not scraped")
    redis = addon_values(cluster, "prometheus-redis-exporter")
    if (redis is not None) != (facts(cluster)["redis"] == "inCluster"):
        problems.append(
            f"{cluster}: redis_exporter {'runs' if redis else 'is missing'} for Redis {facts(cluster)['redis']}"
        )
    if redis is not None:
        host = re.fullmatch(r"redis://([\w-]+):(\d+)", redis["redisAddress"])
        if host is None or env.find("Service", host.group(1)) is None:
            problems.append(f"{cluster}: redis_exporter's address {redis['redisAddress']} is no Service here")
    # In the cluster, the data stores' NetworkPolicies must let the exporters' pods in.
    for store, chart, release in (
        ("postgresql", "prometheus-postgres-exporter", postgres),
        ("redis", "prometheus-redis-exporter", redis),
    ):
        policy = env.find("NetworkPolicy", store)
        if policy is None or release is None:
            continue
        admitted = [
            peer["podSelector"]["matchLabels"]
            for rule in policy.body["spec"]["ingress"]
            for peer in rule.get("from", [])
            if "podSelector" in peer and "namespaceSelector" not in peer
        ]
        if {"app.kubernetes.io/name": chart} not in admitted:
            problems.append(f"{cluster}: NetworkPolicy/{store} does not let {chart}'s pods in")
    return problems


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_the_exporters_reach_the_data_stores(rendered: dict[str, RenderedEnvironment], cluster: str) -> None:
    assert exporter_problems(cluster, rendered[cluster]) == []


def test_the_exporter_check_fails_when_a_network_policy_keeps_them_out(
    rendered: dict[str, RenderedEnvironment],
) -> None:
    env = copy.deepcopy(rendered["dev"])
    policy = env.find("NetworkPolicy", "postgresql")
    assert policy is not None
    policy.body["spec"]["ingress"] = policy.body["spec"]["ingress"][:1]
    assert exporter_problems("dev", env) == [
        "dev: NetworkPolicy/postgresql does not let prometheus-postgres-exporter's pods in"
    ]
    service = env.find("Service", "postgresql-service")
    assert service is not None
    service.body["metadata"]["name"] = "postgres"
    assert "dev: postgres_exporter connects to postgresql-service, which is no Service here" in exporter_problems(
        "dev", env
    )


# --- aws-for-fluent-bit -------------------------------------------------------------------------


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_fluent_bit_writes_to_the_group_terraform_makes(cluster: str) -> None:
    values = addon_values(cluster, "aws-for-fluent-bit")
    platform = facts(cluster)["platform"]
    assert (values is not None) == (platform in ("eks", "k3s"))
    if values is None:
        return
    logs = (MODULES / "logs" / "main.tf").read_text(encoding="utf-8")
    assert 'log_group = "/${var.name}/pods"' in logs
    output = values["cloudWatchLogs"]
    assert output["logGroupName"] == output["logGroupTemplate"] == f"/shopfloor-{cluster}/pods"
    assert output["region"] == facts(cluster)["region"]
    assert output["autoCreateGroup"] is False
    assert applications(cluster)["aws-for-fluent-bit"]["spec"]["destination"]["namespace"] == module_default(
        "logs", "namespace"
    )
    account = values["serviceAccount"]
    assert account["name"] == module_default("logs", "service_account")
    role = account.get("annotations", {}).get("eks.amazonaws.com/role-arn")
    if platform == "eks":
        assert '"${var.name}-fluent-bit"' in logs
        assert role is not None
        assert role.endswith(f":role/shopfloor-{cluster}-fluent-bit")
    else:
        assert role is None, "K3s has no IRSA: Fluent Bit uses the node role"
