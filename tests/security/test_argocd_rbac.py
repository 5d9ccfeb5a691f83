"""Issue 16 item 6 in Argo CD: argocd/clusters/<cluster>/argocd-rbac-cm.yaml evaluated as Argo CD
evaluates its policy (casbin CSV: `p, subject, resource, action, object, effect` and `g, group,
role`; objects matched as globs; deny wins; the built-in role:admin may do anything). Who may sync
and so roll back prod (Argo CD guards a rollback with the sync action): platform admins only."""

from __future__ import annotations

import fnmatch

import pytest
import yaml

from tests.security.securitykit import CLUSTERS, REPO

GROUPS = yaml.safe_load((REPO / "argocd" / "security" / "values.yaml").read_text())["access"]


def policy(cluster: str) -> tuple[list[list[str]], dict[str, set[str]]]:
    body = yaml.safe_load((REPO / "argocd" / "clusters" / cluster / "argocd-rbac-cm.yaml").read_text())
    assert body["metadata"] == {**body["metadata"], "name": "argocd-rbac-cm", "namespace": "argocd"}
    assert body["data"]["policy.default"] == "", "nothing allowed by default"
    rules: list[list[str]] = []
    roles: dict[str, set[str]] = {}
    for line in body["data"]["policy.csv"].splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split(",")]
        if fields[0] == "p":
            assert len(fields) == 6, line
            rules.append(fields[1:])
        elif fields[0] == "g":
            roles.setdefault(fields[1], set()).add(fields[2])
        else:
            raise AssertionError(f"{cluster}: not a policy line: {line}")
    return rules, roles


def allowed(cluster: str, group: str, resource: str, action: str, obj: str) -> bool:
    rules, roles = policy(cluster)
    subjects = {group, *roles.get(group, set())}
    if "role:admin" in subjects:
        return True
    verdicts = [
        effect
        for subject, res, act, pattern, effect in rules
        if subject in subjects
        and fnmatch.fnmatchcase(resource, res)
        and fnmatch.fnmatchcase(action, act)
        and fnmatch.fnmatchcase(obj, pattern)
    ]
    return "allow" in verdicts and "deny" not in verdicts


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_only_platform_admins_sync_prod_and_developers_sync_the_rest(cluster: str) -> None:
    app = f"shopfloor-{cluster}/{cluster}-catalog"
    admins, developers, learners = GROUPS["platformAdmins"], GROUPS["developers"], GROUPS["learners"]
    assert allowed(cluster, admins, "applications", "sync", app)
    assert allowed(cluster, developers, "applications", "sync", app) is (cluster != "prod")
    assert allowed(cluster, developers, "applications", "get", app)
    assert not allowed(cluster, developers, "applications", "delete", app)
    assert not allowed(cluster, developers, "applications", "sync", "platform/kube-prometheus-stack")
    assert not allowed(cluster, developers, "exec", "create", app)
    assert allowed(cluster, learners, "applications", "get", app)
    for action in ("sync", "update", "delete", "override"):
        assert not allowed(cluster, learners, "applications", action, app), action
    assert not allowed(cluster, "someone-else", "applications", "get", app), "no default role"


def test_the_policy_parses_into_roles_and_project_globs() -> None:
    rules, roles = policy("dev")
    assert roles[GROUPS["developers"]] == {"role:developer"}
    assert any(r[:3] == ["role:developer", "applications", "sync"] for r in rules)
    assert fnmatch.fnmatchcase("shopfloor-dev/dev-catalog", "shopfloor-dev/*")
    assert not fnmatch.fnmatchcase("shopfloor-prod/prod-catalog", "shopfloor-dev/*")
