"""What each cluster runs, as Argo CD would deploy it (the root Application's objects, the
Applications of the services' ApplicationSet and the security Application, each rendered with
Helm's engine), and the two evaluators the security tests apply to it: Kubernetes' Pod Security
"restricted" profile and RBAC rules. No cluster here: these are the API server's semantics, in
Python, applied to the rendered objects (the Kubernetes API itself is the one thing stood in for)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopfloor.delivery.render import ChartSet
from shopfloor.repo import find_repo_root
from tests.gitops.argocdkit import bootstrap, generate, render_application

REPO = find_repo_root(Path(__file__).parent)
CLUSTERS = tuple(sorted(path.stem for path in (REPO / "argocd" / "bootstrap").glob("*.yaml")))
APP_NAMESPACE = "shopfloor"
POD_CONTROLLERS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


@dataclass
class Deployed:
    """Every object one cluster's Argo CD would apply, with the namespace each lands in."""

    cluster: str
    objects: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (namespace, body)

    def of_kind(self, *kinds: str) -> list[tuple[str, dict[str, Any]]]:
        return [(ns, body) for ns, body in self.objects if body.get("kind") in kinds]

    def in_namespace(self, namespace: str, *kinds: str) -> list[dict[str, Any]]:
        return [body for ns, body in self.of_kind(*kinds) if ns == namespace]


def deployed(cluster: str, charts: ChartSet) -> Deployed:
    _, root = bootstrap(REPO, cluster)
    result = Deployed(cluster)
    for body in root.objects:
        result.objects.append((body.get("metadata", {}).get("namespace", "argocd"), body))
    # Applications of a chart of this repository (the security one); directory sources such as
    # the secret store hold objects of the add-ons' CRDs, and upstream charts are not here.
    applications = [
        a
        for a in root.of_kind("Application")
        if "helm" in a["spec"].get("source", {}) and "path" in a["spec"]["source"]
    ]
    for appset in root.of_kind("ApplicationSet"):
        applications += generate(REPO, appset)
    for application in applications:
        namespace = application["spec"]["destination"]["namespace"]
        for manifest in render_application(REPO, charts, application):
            result.objects.append((manifest.body.get("metadata", {}).get("namespace") or namespace, manifest.body))
    return result


# ---------------------------------------------------------------------------------------------
# Pod Security Standards, "restricted" (kubernetes.io/docs/concepts/security/pod-security-standards)


def pod_template(body: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = body.get("kind")
    if kind == "Pod":
        return dict(body)
    if kind == "CronJob":
        return dict(body["spec"]["jobTemplate"]["spec"]["template"])
    if kind in POD_CONTROLLERS:
        return dict(body["spec"]["template"])
    return None


ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


def restricted_violations(template: Mapping[str, Any]) -> list[str]:
    """What keeps a pod template out of a namespace that enforces `restricted` (baseline included)."""
    spec = template.get("spec", {})
    pod_sc = spec.get("securityContext") or {}
    problems = [f"{key}: true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            problems.append(f"volume {volume['name']}: {sorted(kinds - ALLOWED_VOLUMES)}")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl['name']}")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod runAsUser 0")
    all_containers = [
        *(spec.get("initContainers") or []),
        *(spec.get("containers") or []),
        *(spec.get("ephemeralContainers") or []),
    ]
    for container in all_containers:
        name = container["name"]
        sc = container.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation not false")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot not true")
        if sc.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile {seccomp}")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            problems.append(f"{name}: hostPort")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount {sc['procMount']}")
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            problems.append(f"{name}: AppArmor Unconfined")
    return problems


# ---------------------------------------------------------------------------------------------
# RBAC: who may do what (kubernetes.io/docs/reference/access-authn-authz/rbac)

# Built-in ClusterRoles a binding may name (their rules as far as these tests ask).
BUILT_IN_ROLES: dict[str, list[dict[str, Any]]] = {
    "cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    "admin": [{"apiGroups": [""], "resources": ["secrets", "pods/exec", "pods/attach"], "verbs": ["*"]}],
    "edit": [{"apiGroups": [""], "resources": ["secrets", "pods/exec", "pods/attach"], "verbs": ["*"]}],
    "view": [{"apiGroups": [""], "resources": ["pods", "services", "configmaps"], "verbs": ["get", "list", "watch"]}],
}


def rule_grants(rules: Iterable[Mapping[str, Any]], verb: str, group: str, resource: str) -> bool:
    return any(
        (verb in rule.get("verbs", []) or "*" in rule.get("verbs", []))
        and (group in rule.get("apiGroups", []) or "*" in rule.get("apiGroups", []))
        and (resource in rule.get("resources", []) or "*" in rule.get("resources", []))
        for rule in rules
    )


# What "reading Secrets" and "exec into pods" take (kubectl exec is create on pods/exec; older
# clients use get on it through a websocket upgrade).
FORBIDDEN = (
    *((verb, "", "secrets") for verb in ("get", "list", "watch")),
    *((verb, "", sub) for verb in ("create", "get") for sub in ("pods/exec", "pods/attach")),
)


def subject_matches(subject: Mapping[str, Any], account: str, namespace: str, binding_namespace: str | None) -> bool:
    kind = subject.get("kind")
    if kind == "ServiceAccount":
        return subject.get("name") == account and subject.get("namespace", binding_namespace) == namespace
    if kind == "Group":
        return subject.get("name") in {
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        }
    if kind == "User":
        return subject.get("name") == f"system:serviceaccount:{namespace}:{account}"
    return False


def forbidden_grants(dep: Deployed, account: str, namespace: str) -> list[str]:
    """Each forbidden (verb, group, resource) some binding gives `account`, naming the binding;
    a binding to a role that is neither rendered nor a known built-in is reported too."""
    roles: dict[tuple[str, str, str | None], dict[str, Any]] = {
        ("ClusterRole", body["metadata"]["name"], None): body for _, body in dep.of_kind("ClusterRole")
    }
    roles |= {("Role", body["metadata"]["name"], ns): body for ns, body in dep.of_kind("Role")}
    problems = []
    for ns, binding in dep.of_kind("RoleBinding", "ClusterRoleBinding"):
        binding_ns = ns if binding["kind"] == "RoleBinding" else None
        if binding_ns is not None and binding_ns != namespace:
            continue  # a RoleBinding grants only in its own namespace
        if not any(subject_matches(s, account, namespace, binding_ns) for s in binding.get("subjects") or []):
            continue
        ref = binding["roleRef"]
        role = roles.get((ref["kind"], ref["name"], binding_ns if ref["kind"] == "Role" else None))
        if role is not None and role.get("aggregationRule"):
            problems.append(
                f"{binding['kind']}/{binding['metadata']['name']}: aggregated role {ref['name']}, not evaluated"
            )
            continue
        rules = role.get("rules") or [] if role is not None else BUILT_IN_ROLES.get(ref["name"])
        if rules is None:
            problems.append(
                f"{binding['kind']}/{binding['metadata']['name']}: unknown role {ref['kind']}/{ref['name']}"
            )
            continue
        for verb, group, resource in FORBIDDEN:
            if rule_grants(rules, verb, group, resource):
                problems.append(f"{binding['kind']}/{binding['metadata']['name']} lets {account} {verb} {resource}")
    return problems
