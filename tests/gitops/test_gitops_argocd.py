"""argocd/ as Argo CD would take it: the objects against the CRD fields they use, each cluster's
root Application, each ApplicationSet's generated Applications rendered with Helm's engine and
checked against their AppProject, and the acceptance: a new folder is a new Application."""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from shopfloor.argocd_check import (
    ArgoError,
    Cluster,
    bootstrap,
    generate,
    objects,
    path_match,
    permission_problems,
    render_application,
)
from shopfloor.delivery import TOOLS_IMAGE
from shopfloor.delivery.image_files import image_path, read_image
from shopfloor.delivery.render import ChartSet, Manifest, RenderError
from shopfloor.repo import find_repo_root

from ..charts.chartkit import KUBERNETES_VERSIONS

REPO = find_repo_root(Path(__file__).parent)
CLUSTERS = ("local", "dev", "staging", "prod")
SCHEMA = json.loads((Path(__file__).parent / "argocd-crd-subset.schema.json").read_text())
ARGO_KINDS = ("Application", "AppProject", "ApplicationSet")
PINNED = re.compile(r"\d+\.\d+\.\d+")
ADDONS = {
    "local": {"traefik", "metrics-server", "kube-prometheus-stack"},
    "dev": {"external-secrets", "kube-prometheus-stack"},
    "staging": {
        "aws-load-balancer-controller",
        "metrics-server",
        "cluster-autoscaler",
        "external-secrets",
        "kube-prometheus-stack",
    },
}
ADDONS["prod"] = ADDONS["staging"]


@pytest.fixture(scope="module")
def charts() -> Iterator[ChartSet]:
    with ChartSet(REPO) as chart_set:
        yield chart_set


def installed(cluster: str) -> Cluster:
    return bootstrap(REPO, cluster)[1]


def applications(cluster: Cluster, repo: Path = REPO) -> list[dict[str, Any]]:
    return [app for appset in cluster.of_kind("ApplicationSet") for app in generate(repo, appset)]


def schema_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_every_argo_cd_object_uses_only_fields_its_crd_defines() -> None:
    checked = 0
    for path, document in objects(REPO):
        if document.get("kind") in ARGO_KINDS:
            assert schema_errors(document) == [], path
            checked += 1
    for cluster in CLUSTERS:
        for application in applications(installed(cluster)):
            assert schema_errors(application) == [], application["metadata"]["name"]
            checked += 1
    assert checked > 40


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        (("spec", "syncPolicy", "automated", "selfheal"), True),  # misspelt
        (("spec", "template", "spec", "sources", 1, "helm", "valueFile"), []),
        (("spec", "generators", 0, "git", "directory"), []),
        (("spec", "ignoreApplicationDifferences", 0, "jsonPointer"), []),
    ],
)
def test_the_schema_refuses_a_field_argo_cd_does_not_have(pointer: tuple[Any, ...], value: Any) -> None:
    appset = copy.deepcopy(installed("prod").of_kind("ApplicationSet")[0])
    appset["spec"].setdefault("syncPolicy", {}).setdefault("automated", {})
    target = appset
    for key in pointer[:-1]:
        target = target[key]
    target[pointer[-1]] = value
    errors = schema_errors(appset)
    assert errors, pointer


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_the_root_application_installs_the_cluster_folder_and_nothing_of_another(cluster: str) -> None:
    documents, root = bootstrap(REPO, cluster)
    project = next(d for d in documents if d["kind"] == "AppProject")
    application = next(d for d in documents if d["kind"] == "Application")
    assert application["spec"]["project"] == project["metadata"]["name"] == "bootstrap"
    names = {(o["kind"], o["metadata"]["name"]) for o in root.objects}
    assert ("ApplicationSet", f"shopfloor-{cluster}") in names
    assert ("AppProject", f"shopfloor-{cluster}") in names
    assert ("ConfigMap", "argocd-notifications-cm") in names
    assert {o["metadata"]["name"] for o in root.objects if o["kind"] == "ApplicationSet"} == {f"shopfloor-{cluster}"}
    allowed = project["spec"]["namespaceResourceWhitelist"] + project["spec"]["clusterResourceWhitelist"]
    for document in root.objects:
        group = document["apiVersion"].split("/")[0] if "/" in document["apiVersion"] else ""
        assert {"group": group, "kind": document["kind"]} in allowed, document["kind"]


def test_include_globs_do_not_cross_folders() -> None:
    assert path_match("{clusters/dev/*.yaml,notifications/*.yaml}", "clusters/dev/projects.yaml")
    assert not path_match("{clusters/dev/*.yaml,notifications/*.yaml}", "clusters/dev/x/projects.yaml")
    assert not path_match("{clusters/dev/*.yaml,notifications/*.yaml}", "clusters/prod/projects.yaml")


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_one_application_per_folder_of_the_environment(cluster: str) -> None:
    generated = applications(installed(cluster))
    folders = sorted(p.name for p in (REPO / "environments" / cluster).iterdir() if p.is_dir())
    assert sorted(a["metadata"]["name"] for a in generated) == [f"{cluster}-{f}" for f in folders]


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_generated_applications_render_and_stay_within_their_project(cluster: str, charts: ChartSet) -> None:
    root = installed(cluster)
    appset = root.of_kind("ApplicationSet")[0]
    # The project is a literal in the template: no folder can pick another project.
    assert "{{" not in appset["spec"]["template"]["spec"]["project"]
    for application in applications(root):
        name = application["metadata"]["name"]
        chart = name.removeprefix(f"{cluster}-")
        assert application["spec"]["project"] == f"shopfloor-{cluster}"
        project = root.project(application["spec"]["project"])
        assert project is not None, name
        chart_source = next(s for s in application["spec"]["sources"] if s.get("path", "").startswith("charts/"))
        assert chart_source["path"] == f"charts/{chart}"
        assert (REPO / chart_source["path"] / "Chart.yaml").is_file()
        # ignoreMissingValueFiles is for the data charts only: a service without its image file fails here.
        expected = ["values.yaml", "image.yaml"] if (REPO / "apps" / chart).is_dir() else ["values.yaml"]
        assert sorted(p.name for p in (REPO / "environments" / cluster / chart).glob("*.yaml")) == sorted(expected)
        manifests = render_application(REPO, charts, application)
        assert any(m.kind == "Job" and m.name == f"smoke-test-{chart}" for m in manifests), name
        assert permission_problems(project, application, manifests) == [], name


def test_a_kind_outside_the_project_is_refused(charts: ChartSet) -> None:
    root = installed("dev")
    application = applications(root)[0]
    project = root.project(application["spec"]["project"])
    assert project is not None
    role = Manifest(
        "x", "x", "", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}}
    )
    elsewhere = Manifest(
        "x", "x", "", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y", "namespace": "kube-system"}}
    )
    problems = permission_problems(project, application, [role, elsewhere])
    assert len(problems) == 2
    assert "ClusterRole" in problems[0]
    assert "kube-system" in problems[1]
    moved = copy.deepcopy(application)
    moved["spec"]["destination"]["namespace"] = "kube-system"
    assert any("destination" in p for p in permission_problems(project, moved, []))


def test_sync_policies_dev_and_staging_automated_prod_manual_and_kept() -> None:
    for cluster in ("local", "dev", "staging"):
        appset = installed(cluster).of_kind("ApplicationSet")[0]
        assert appset["spec"]["template"]["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    prod = installed("prod").of_kind("ApplicationSet")[0]
    assert "automated" not in prod["spec"]["template"]["spec"]["syncPolicy"]
    # Someone who turns auto-sync on or off in the UI (to roll back) keeps that choice.
    assert {"jsonPointers": ["/spec/syncPolicy"]} in prod["spec"]["ignoreApplicationDifferences"]
    assert prod["spec"]["syncPolicy"]["preserveResourcesOnDeletion"] is True


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_add_ons_are_pinned_and_ordered_before_the_services(cluster: str) -> None:
    root = installed(cluster)
    addons = [a for a in root.of_kind("Application") if "chart" in a["spec"]["source"]]
    assert {a["metadata"]["name"] for a in addons} == ADDONS[cluster]
    platform = root.project("platform")
    assert platform is not None
    for addon in addons:
        source = addon["spec"]["source"]
        assert PINNED.fullmatch(source["targetRevision"]), addon["metadata"]["name"]
        assert source["repoURL"] in platform["spec"]["sourceRepos"]
        assert addon["spec"]["project"] == "platform"
        assert int(addon["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) < 0
    appset = root.of_kind("ApplicationSet")[0]
    assert int(appset["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) == 0
    for project in root.of_kind("AppProject"):
        assert int(project["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) < -3


def test_notifications_cover_failed_degraded_deployed_and_every_subscription_resolves() -> None:
    configmap = next(o for _, o in objects(REPO) if o.get("kind") == "ConfigMap")
    data = configmap["data"]
    triggers = {
        key.removeprefix("trigger."): yaml.safe_load(value) for key, value in data.items() if key.startswith("trigger.")
    }
    templates = {key.removeprefix("template.") for key in data if key.startswith("template.")}
    assert {"on-sync-failed", "on-health-degraded", "on-deployed"} <= set(triggers)
    for conditions in triggers.values():
        for condition in conditions:
            assert set(condition["send"]) <= templates
    assert "token: $slack-token" in data["service.slack"]
    for cluster in CLUSTERS:
        root = installed(cluster)
        subscribed = [*root.of_kind("Application"), *applications(root)]
        for application in subscribed:
            for key in application["metadata"].get("annotations", {}):
                if key.startswith("notifications.argoproj.io/subscribe."):
                    trigger, service = key.removeprefix("notifications.argoproj.io/subscribe.").split(".")
                    assert trigger in triggers, key
                    assert service == "slack", key


def smoke_job(cluster: str, charts: ChartSet, image_file: str) -> dict[str, Any]:
    """The smoke Job of a generated Application, with `image_file` (under environments/<cluster>/) as the
    smoke-test source's value file, as the ApplicationSet passes the environment's tools-image.yaml."""
    application = copy.deepcopy(applications(installed(cluster))[0])
    source = next(s for s in application["spec"]["sources"] if s.get("path") == "argocd/smoke-test")
    source["helm"]["valueFiles"] = [f"$values/environments/{cluster}/{image_file}"]
    manifests = render_application(REPO, charts, application)
    [job] = [m.body for m in manifests if m.chart == "argocd/smoke-test"]
    return job


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_the_smoke_job_runs_shopfloor_smoke_from_the_pinned_tools_image(cluster: str, charts: ChartSet) -> None:
    pinned = read_image(image_path(REPO, cluster, TOOLS_IMAGE))
    assert pinned.repository.endswith("/shopfloor/tools")
    container = smoke_job(cluster, charts, "tools-image.yaml")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == str(pinned)
    assert container["command"][:3] == ["shopfloor", "smoke", f"--base-url={source_values(cluster)['baseUrl']}"]


def source_values(cluster: str) -> dict[str, Any]:
    appset = installed(cluster).of_kind("ApplicationSet")[0]
    source = next(s for s in appset["spec"]["template"]["spec"]["sources"] if s.get("path") == "argocd/smoke-test")
    values: dict[str, Any] = source["helm"]["valuesObject"]
    return values


@pytest.mark.parametrize(
    ("image", "refused"),
    [
        ({"tag": "latest"}, "/image/tag"),
        ({"tag": ""}, "/image/tag"),
        ({"digest": "sha256:abc"}, "/image/digest"),
        ({"pullPolicy": "Never"}, "/image/pullPolicy"),
    ],
)
def test_the_smoke_chart_refuses_an_unpinned_or_malformed_image(
    tmp_path: Path, charts: ChartSet, image: dict[str, str], refused: str
) -> None:
    shutil.copytree(REPO / "argocd", tmp_path / "argocd")
    shutil.copytree(REPO / "environments", tmp_path / "environments")
    document = yaml.safe_load((REPO / "environments" / "dev" / "tools-image.yaml").read_text())
    document["image"].update(image)
    (tmp_path / "environments" / "dev" / "broken.yaml").write_text(yaml.safe_dump(document))
    application = copy.deepcopy(applications(installed("dev"))[0])
    source = next(s for s in application["spec"]["sources"] if s.get("path") == "argocd/smoke-test")
    source["helm"]["valueFiles"] = ["$values/environments/dev/broken.yaml"]
    with pytest.raises(RenderError, match=re.escape(refused)):
        render_application(tmp_path, charts, application)


def test_templates_refuse_what_the_evaluator_does_not_understand() -> None:
    appset = copy.deepcopy(installed("dev").of_kind("ApplicationSet")[0])
    appset["spec"]["template"]["metadata"]["name"] = "{{ .path.nope }}"
    with pytest.raises(ArgoError, match="missingkey"):
        generate(REPO, appset)
    appset["spec"]["template"]["metadata"]["name"] = "{{ if .x }}y{{ end }}"
    with pytest.raises(ArgoError, match="not evaluated"):
        generate(REPO, appset)


def test_adding_a_folder_under_environments_dev_yields_an_application(tmp_path: Path, charts: ChartSet) -> None:
    """The acceptance: a service arrives in dev by its folder alone; argocd/ is not edited."""
    for folder in ("argocd", "environments", "charts"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("charts"))
    shutil.rmtree(tmp_path / "environments" / "dev" / "frontend")
    root = bootstrap(tmp_path, "dev")[1]
    assert "dev-frontend" not in {a["metadata"]["name"] for a in applications(root, tmp_path)}
    argocd_before = {p: p.read_bytes() for p in (tmp_path / "argocd").rglob("*") if p.is_file()}

    shutil.copytree(REPO / "environments" / "dev" / "frontend", tmp_path / "environments" / "dev" / "frontend")

    root = bootstrap(tmp_path, "dev")[1]
    generated = {a["metadata"]["name"]: a for a in applications(root, tmp_path)}
    assert "dev-frontend" in generated
    application = generated["dev-frontend"]
    project = root.project(application["spec"]["project"])
    assert project is not None
    manifests = render_application(tmp_path, charts, application)
    assert {m.kind for m in manifests} >= {"Deployment", "Service", "Ingress", "Job"}
    assert permission_problems(project, application, manifests) == []
    assert {p: p.read_bytes() for p in (tmp_path / "argocd").rglob("*") if p.is_file()} == argocd_before


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_kubernetes_objects_of_argocd_validate_strictly(version: str, charts: ChartSet) -> None:
    """The smoke-test Job and ConfigMap, the namespace and the notifications ConfigMap."""
    bodies = [o for _, o in objects(REPO) if o.get("kind") not in ARGO_KINDS and o.get("kind") != "ClusterSecretStore"]
    application = applications(installed("prod"))[0]
    bodies += [m.body for m in render_application(REPO, charts, application) if m.chart == "argocd/smoke-test"]
    assert {b["kind"] for b in bodies} == {"Namespace", "ConfigMap", "Job"}
    for body in bodies:
        assert kubernetes_validate.validate(body, version, strict=True) == version, body["metadata"]["name"]
