"""Issue 16 items 1 and 6, on every cluster as Argo CD would deploy it (tests/security/securitykit.py):
- the app namespace enforces Pod Security `restricted`, and every pod rendered into it passes it;
  the exceptions are namespaces of their own, labelled and documented;
- a pod with no NetworkPolicy of its own (a debug pod, a Job, a chaos pod) reaches nothing and is
  reached by nothing but for the cluster DNS, while the shop's request flow stays open;
- no ServiceAccount of the shop can read Secrets or exec into pods; developers and learners
  cannot either; developers edit only the app namespace.
The NetworkPolicy semantics are evaluated in Python (tests/charts/chartkit.NetworkModel); only the
Kubernetes API is stood in for: nothing here runs on a cluster."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shopfloor.delivery.render import ChartSet, RenderedEnvironment, render_environment
from tests.charts.chartkit import (
    AWS_APIS,
    CLUSTER_DNS,
    INSTANCE_METADATA,
    INTERNET,
    LOOKALIKE,
    MONITORING,
    TRAEFIK,
    Actor,
    NetworkModel,
    check_network_flow,
    flow_plan,
)
from tests.security.securitykit import (
    APP_NAMESPACE,
    CLUSTERS,
    FORBIDDEN,
    REPO,
    Deployed,
    deployed,
    forbidden_grants,
    pod_template,
    restricted_violations,
    rule_grants,
)

EXCEPTIONS = {"kube-bench": "privileged", "falco": "privileged"}


@pytest.fixture(scope="module")
def charts() -> Iterator[ChartSet]:
    with ChartSet(REPO) as chart_set:
        yield chart_set


@pytest.fixture(scope="module")
def clusters(charts: ChartSet) -> dict[str, Deployed]:
    return {cluster: deployed(cluster, charts) for cluster in CLUSTERS}


def namespace_labels(dep: Deployed, name: str) -> dict[str, str]:
    for _, body in dep.of_kind("Namespace"):
        if body["metadata"]["name"] == name:
            return dict(body["metadata"].get("labels") or {})
    raise AssertionError(f"{dep.cluster}: no Namespace {name}")


# --- Pod Security ------------------------------------------------------------------------------


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_the_app_namespace_enforces_restricted_and_every_pod_passes(
    clusters: dict[str, Deployed], cluster: str
) -> None:
    dep = clusters[cluster]
    assert namespace_labels(dep, APP_NAMESPACE)["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = [
        (body, pod_template(body))
        for body in dep.in_namespace(APP_NAMESPACE, "Deployment", "StatefulSet", "Job", "CronJob")
    ]
    assert {body["kind"] for body, _ in pods} >= {"Deployment", "Job"}, "the services, migrations and smoke test"
    problems = [
        f"{body['kind']}/{body['metadata']['name']}: {p}" for body, t in pods if t for p in restricted_violations(t)
    ]
    assert problems == []


def test_the_restricted_evaluator_refuses_what_the_api_server_would() -> None:
    good = {
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
            ],
        }
    }
    assert restricted_violations(good) == []
    cases: dict[str, Callable[[dict[str, Any]], object]] = {
        "hostPID: true": lambda t: t["spec"].update(hostPID=True),
        "c: allowPrivilegeEscalation not false": lambda t: t["spec"]["containers"][0]["securityContext"].pop(
            "allowPrivilegeEscalation"
        ),
        "c: capabilities do not drop ALL": lambda t: t["spec"]["containers"][0]["securityContext"].update(
            capabilities={"drop": ["NET_RAW"]}
        ),
        "c: seccompProfile Unconfined": lambda t: t["spec"]["securityContext"].update(
            seccompProfile={"type": "Unconfined"}
        ),
        "volume host: ['hostPath']": lambda t: t["spec"].update(volumes=[{"name": "host", "hostPath": {"path": "/"}}]),
        "c: runAsNonRoot not true": lambda t: t["spec"]["securityContext"].pop("runAsNonRoot"),
    }
    for expected, change in cases.items():
        broken = copy.deepcopy(good)
        change(broken)
        assert expected in restricted_violations(broken), expected


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_the_exceptions_are_their_own_namespaces_and_documented(clusters: dict[str, Deployed], cluster: str) -> None:
    dep = clusters[cluster]
    security_doc = (REPO / "docs" / "security.md").read_text()
    for _, body in dep.of_kind("Namespace"):
        labels = body["metadata"].get("labels") or {}
        level = labels.get("pod-security.kubernetes.io/enforce")
        name = body["metadata"]["name"]
        if level and level != "restricted":
            assert EXCEPTIONS.get(name) == level, f"{cluster}: {name} enforces {level}, not a listed exception"
            assert f"`{name}`" in security_doc, f"docs/security.md does not list the exception {name}"
    # The privileged pods are where their namespace allows it, never in the app namespace.
    for ns, body in dep.of_kind("CronJob", "DaemonSet", "Deployment", "Job", "StatefulSet"):
        template = pod_template(body)
        if template and restricted_violations(template):
            assert ns in EXCEPTIONS, f"{cluster}: {body['kind']}/{body['metadata']['name']} in {ns} is not restricted"


# --- NetworkPolicies ---------------------------------------------------------------------------


def app_environment(dep: Deployed, charts: ChartSet) -> tuple[RenderedEnvironment, list[dict[str, object]]]:
    """The environment's chart render (what the flow plan reads) and the namespace's guard-rail
    policies (what the security Application adds)."""
    env = render_environment(charts, dep.cluster)
    chart_policies = {p.name for p in env.of_kind("NetworkPolicy")}
    guardrails = [
        body
        for body in dep.in_namespace(APP_NAMESPACE, "NetworkPolicy")
        if body["metadata"]["name"] not in chart_policies
    ]
    return env, guardrails


STRANGER = Actor(name="debug-pod", namespace=APP_NAMESPACE, labels=(("run", "debug"),), ports=(8080,))


def reachable(model: NetworkModel, actors: list[Actor]) -> tuple[list[str], list[str]]:
    out = [
        f"{target.name}:{port}/{protocol}"
        for target in actors
        for port in target.ports
        for protocol in ("TCP", "UDP")
        if model.allows(STRANGER, target, port, protocol)
    ]
    into = [source.name for source in actors for port in STRANGER.ports if model.allows(source, STRANGER, port)]
    return out, into


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_a_pod_without_a_policy_of_its_own_reaches_nothing_but_dns(
    clusters: dict[str, Deployed], charts: ChartSet, cluster: str
) -> None:
    env, guardrails = app_environment(clusters[cluster], charts)
    assert {p["metadata"]["name"] for p in guardrails} == {"default-deny", "allow-dns"}  # type: ignore[index]
    plan = flow_plan(env)
    actors = [
        *plan.actors.values(),
        TRAEFIK,
        MONITORING,
        CLUSTER_DNS,
        LOOKALIKE,
        INTERNET,
        AWS_APIS,
        INSTANCE_METADATA,
        Actor(name="same-namespace-stranger", namespace=APP_NAMESPACE, labels=(("run", "other"),), ports=(80,)),
    ]
    guarded = NetworkModel(env)
    guarded.policies += guardrails
    out, into = reachable(guarded, actors)
    assert set(out) == {"dns:53/TCP", "dns:53/UDP"}
    assert into == []
    # The control: without the guard rails the same pod is open both ways (the test can fail).
    open_out, open_into = reachable(NetworkModel(env), actors)
    assert "internet:443/TCP" in open_out
    assert {"internet", "lookalike-in-default-namespace", "same-namespace-stranger"} <= set(open_into)


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_the_guard_rails_leave_the_request_flow_open(
    clusters: dict[str, Deployed], charts: ChartSet, cluster: str
) -> None:
    env, guardrails = app_environment(clusters[cluster], charts)
    # Policies only add: the flow check passes with the guard rails as it does without them,
    # but for DNS, which every pod of the namespace now gets (the data stores included).
    problems = check_network_flow(env)
    assert problems == []
    model = NetworkModel(env)
    model.policies += guardrails
    plan = flow_plan(env)
    denied = [
        f"{s} -> {t}:{p}"
        for s, t, p in sorted(plan.expected)
        if not all(
            model.allows(plan.actors[s], plan.actors[t], p, protocol)
            for protocol in (("UDP", "TCP") if t == "dns" else ("TCP",))
        )
    ]
    assert denied == []


# --- RBAC --------------------------------------------------------------------------------------


def shop_service_accounts(dep: Deployed) -> list[str]:
    return sorted({"default", *(b["metadata"]["name"] for b in dep.in_namespace(APP_NAMESPACE, "ServiceAccount"))})


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_no_service_account_of_the_shop_can_read_secrets_or_exec(clusters: dict[str, Deployed], cluster: str) -> None:
    dep = clusters[cluster]
    accounts = shop_service_accounts(dep)
    assert {"catalog", "orders", "api-gateway", "frontend"} <= set(accounts)
    assert [p for account in accounts for p in forbidden_grants(dep, account, APP_NAMESPACE)] == []


def test_a_binding_that_gives_a_shop_account_secrets_is_caught(clusters: dict[str, Deployed]) -> None:
    dep = copy.deepcopy(clusters["prod"])
    dep.objects.append(
        (
            APP_NAMESPACE,
            {
                "kind": "RoleBinding",
                "metadata": {"name": "oops"},
                "roleRef": {"kind": "ClusterRole", "name": "edit"},
                "subjects": [{"kind": "ServiceAccount", "name": "catalog", "namespace": APP_NAMESPACE}],
            },
        )
    )
    dep.objects.append(
        (
            "other",
            {
                "kind": "RoleBinding",
                "metadata": {"name": "elsewhere"},
                "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "catalog", "namespace": APP_NAMESPACE}],
            },
        )
    )
    problems = forbidden_grants(dep, "catalog", APP_NAMESPACE)
    assert "RoleBinding/oops lets catalog get secrets" in problems
    assert "RoleBinding/oops lets catalog create pods/exec" in problems
    assert not any("elsewhere" in p for p in problems)  # a RoleBinding elsewhere grants nothing here
    dep.objects.append(
        (
            "",
            {
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "all-accounts"},
                "roleRef": {"kind": "ClusterRole", "name": "shopfloor-developer"},
                "subjects": [{"kind": "Group", "name": "system:serviceaccounts"}],
            },
        )
    )
    assert not any("all-accounts" in p for p in forbidden_grants(dep, "orders", APP_NAMESPACE))


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_developers_and_learners_read_no_secrets_and_exec_nowhere(clusters: dict[str, Deployed], cluster: str) -> None:
    dep = clusters[cluster]
    roles = {body["metadata"]["name"]: body for _, body in dep.of_kind("ClusterRole")}
    for name in ("shopfloor-developer", "shopfloor-learner"):
        rules = roles[name]["rules"]
        assert [f for f in FORBIDDEN if rule_grants(rules, *f)] == [], name
    assert rule_grants(roles["shopfloor-developer"]["rules"], "patch", "apps", "deployments")
    assert not rule_grants(roles["shopfloor-learner"]["rules"], "patch", "apps", "deployments")
    bindings = {b["metadata"]["name"]: (ns, b) for ns, b in dep.of_kind("RoleBinding", "ClusterRoleBinding")}
    namespace, developers = bindings["shopfloor-developers"]
    assert (developers["kind"], namespace) == ("RoleBinding", APP_NAMESPACE)  # the app namespace only
    assert bindings["shopfloor-learners"][1]["kind"] == "ClusterRoleBinding"
