"""argocd/ as Argo CD would take it: every Argo CD object (the files, the add-on Applications the
root renders, the Applications each ApplicationSet generates) strictly against the upstream CRDs,
each cluster's root Application, each ApplicationSet's generated Applications rendered with Helm's
engine and checked against their AppProject, and the acceptance: a new folder is a new Application."""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from shopfloor.delivery import TOOLS_IMAGE
from shopfloor.delivery.image_files import image_path, read_image
from shopfloor.delivery.render import (
    SERVICE_CHART,
    ChartSet,
    Manifest,
    RenderError,
    environments,
    load_values,
    merge_values,
    release,
    service_defaults,
)
from shopfloor.repo import find_repo_root
from tests.crdkit import assert_valid, crd_errors, require_crds

from ..charts.chartkit import KUBERNETES_VERSIONS
from .argocdkit import (
    ArgoError,
    Cluster,
    bootstrap,
    generate,
    objects,
    path_match,
    permission_problems,
    render_application,
    render_chart,
)

REPO = find_repo_root(Path(__file__).parent)
# One cluster per bootstrap file; each deploys the environment of its name.
CLUSTERS = tuple(sorted(path.stem for path in (REPO / "argocd" / "bootstrap").glob("*.yaml")))
ARGO_KINDS = ("Application", "AppProject", "ApplicationSet")
# Custom resources under argocd/ besides Argo CD's own (tests/contract validates them against their CRDs).
CUSTOM_KINDS = ("ClusterSecretStore", "ClusterIssuer")
# x.y.z (cert-manager tags its charts vx.y.z).
PINNED = re.compile(r"v?\d+\.\d+\.\d+")
GLOB = re.compile(r"[*?\[\]!{}]")
REPO_URL = "https://github.com/shopfloor/shopfloor.git"
# Which add-ons each cluster runs (docs/gitops.md has the table and the reasons).
# The exporters watch PostgreSQL everywhere (RDS on EKS too) and Redis where it runs in the
# cluster; YACE reads CloudWatch on EKS; Fluent Bit ships logs to CloudWatch wherever AWS is.
IN_CLUSTER_EXPORTERS = {"prometheus-postgres-exporter", "prometheus-redis-exporter"}
ADDONS = {
    "local": {"traefik", "metrics-server", "kube-prometheus-stack", *IN_CLUSTER_EXPORTERS},
    "dev": {
        "external-secrets",
        "kube-prometheus-stack",
        "reloader",
        "cert-manager",
        *IN_CLUSTER_EXPORTERS,
        "aws-for-fluent-bit",
        "falco",
    },
    "staging": {
        "aws-load-balancer-controller",
        "metrics-server",
        "cluster-autoscaler",
        "external-secrets",
        "kube-prometheus-stack",
        "reloader",
        "prometheus-postgres-exporter",
        "prometheus-yet-another-cloudwatch-exporter",
        "aws-for-fluent-bit",
        "falco",
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


def addons(cluster: Cluster) -> list[dict[str, Any]]:
    """The add-on Applications: those installing an upstream chart."""
    return [a for a in cluster.of_kind("Application") if "chart" in a["spec"].get("source", {})]


def argo_objects() -> list[dict[str, Any]]:
    """Every Argo CD object Argo CD would be given: the files under argocd/ (the bootstrap files
    too), what each root Application installs (the add-ons rendered from argocd/addons), and the
    Applications each ApplicationSet generates."""
    found = [document for _, document in objects(REPO) if document.get("kind") in ARGO_KINDS]
    for cluster in CLUSTERS:
        root = installed(cluster)
        found += [document for document in root.objects if document.get("kind") in ARGO_KINDS]
        found += applications(root)
    return found


def test_the_clusters_are_the_environments() -> None:
    assert list(CLUSTERS) == environments(REPO)


def test_every_argo_cd_object_validates_strictly_against_the_upstream_crds() -> None:
    require_crds()
    documents = argo_objects()
    assert {d["kind"] for d in documents} == set(ARGO_KINDS)
    assert assert_valid(documents) > 60


def _prod_appset() -> dict[str, Any]:
    return copy.deepcopy(installed("prod").of_kind("ApplicationSet")[0])


def _set(document: dict[str, Any], pointer: tuple[Any, ...], value: Any) -> dict[str, Any]:
    target = document
    for key in pointer[:-1]:
        target = target[key]
    target[pointer[-1]] = value
    return document


@pytest.mark.parametrize(
    ("document", "pointer", "value", "refusal"),
    [
        # A misspelt field, on each kind and on what the root and the ApplicationSets generate.
        (lambda: applications(installed("dev"))[0], ("spec", "syncPolicy", "automated", "selfheal"), True, "selfheal"),
        (lambda: addons(installed("prod"))[0], ("spec", "source", "targetRevison"), "1.0.0", "targetRevison"),
        (_prod_appset, ("spec", "template", "spec", "sources", 1, "helm", "valueFile"), [], "valueFile"),
        (_prod_appset, ("spec", "generators", 0, "git", "file"), [], "'file'"),
        (lambda: installed("staging").project("platform"), ("spec", "sourceRepo"), [], "sourceRepo"),
        # A wrong enum value and a wrong type.
        (_prod_appset, ("spec", "syncPolicy", "applicationsSync"), "create-all", "'create-all' is not one of"),
        (_prod_appset, ("spec", "goTemplate"), "yes", "'yes' is not of type 'boolean'"),
    ],
    ids=[
        "misspelt-selfHeal",
        "misspelt-targetRevision",
        "misspelt-valueFiles",
        "misspelt-files",
        "misspelt-sourceRepos",
        "wrong-enum",
        "wrong-type",
    ],
)
def test_the_crds_refuse_what_argo_cd_would_drop_or_reject(
    document: Any, pointer: tuple[Any, ...], value: Any, refusal: str
) -> None:
    require_crds()
    original = document()
    assert crd_errors(original) == []
    errors = crd_errors(_set(copy.deepcopy(original), pointer, value))
    assert any(refusal in error for error in errors), errors


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
    # The add-ons come from the one chart, with this cluster's values file.
    helm_sources = [s for s in application["spec"]["sources"] if "helm" in s]
    addons_source = [(s["path"], s["helm"]["valueFiles"]) for s in helm_sources]
    assert addons_source == [("argocd/addons", [f"values-{cluster}.yaml"])]
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
        folder = name.removeprefix(f"{cluster}-")
        assert application["spec"]["project"] == f"shopfloor-{cluster}"
        project = root.project(application["spec"]["project"])
        assert project is not None, name
        manifests = render_application(REPO, charts, application)
        assert any(m.kind == "Job" and m.name == f"smoke-test-{folder}" for m in manifests), name
        assert permission_problems(project, application, manifests) == [], name


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_argo_cd_and_shopfloor_render_release_the_same_chart_with_the_same_files(cluster: str) -> None:
    """ignoreMissingValueFiles is there for the data stores, which have neither the service defaults
    nor an image file: every file a service's Application names exists, and Argo CD layers exactly
    the files `shopfloor render` does, in the same order."""
    for application in applications(installed(cluster)):
        folder = application["metadata"]["name"].removeprefix(f"{cluster}-")
        source = next(s for s in application["spec"]["sources"] if s.get("path", "").startswith("charts/"))
        ours = release(REPO, cluster, folder)
        assert source["path"] == f"charts/{ours.chart}"
        assert source["helm"]["releaseName"] == ours.name == folder
        named = [REPO / f.removeprefix("$values/") for f in source["helm"]["valueFiles"]]
        assert [f for f in named if f.is_file()] == [REPO / f for f in ours.values_files]
        if ours.chart == SERVICE_CHART:
            assert all(f.is_file() for f in named), f"{folder}: a service needs {named}"
            assert service_defaults(REPO, folder).is_file()
        else:
            assert [f.name for f in named if f.is_file()] == ["values.yaml"]


def test_a_folder_that_is_both_a_service_and_a_data_store_is_refused(tmp_path: Path) -> None:
    for folder in ("argocd", "environments", "charts"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("charts"))
    dev = tmp_path / "environments" / "dev"
    shutil.copy(dev / "catalog" / "image.yaml", dev / "redis")
    with pytest.raises(ArgoError, match=r"duplicate Applications \['dev-redis'\]"):
        applications(bootstrap(tmp_path, "dev")[1], tmp_path)


def source_repositories(application: dict[str, Any]) -> set[str]:
    spec = application["spec"]
    return {source["repoURL"] for source in spec.get("sources") or [spec["source"]]}


def source_repo_problems(project: dict[str, Any], applications: list[dict[str, Any]]) -> list[str]:
    """A project's sourceRepos are exactly the repositories its Applications use: Argo CD reads
    each entry as a glob (`!` negates), so a pattern admits repositories nobody reviewed, and an
    entry no Application uses is a permission nobody needs."""
    name = project["metadata"]["name"]
    listed = project["spec"].get("sourceRepos", [])
    used: set[str] = set()
    for application in applications:
        if application["spec"]["project"] == name:
            used |= source_repositories(application)
    problems = []
    for repo in listed:
        if GLOB.search(repo):
            problems.append(f"{name}: sourceRepos entry {repo!r} is a pattern, not a repository")
        elif repo not in used:
            problems.append(f"{name}: sourceRepos lists {repo}, which none of its Applications uses")
    problems += [f"{name}: {repo} is used but not in sourceRepos" for repo in sorted(used - set(listed))]
    return problems


def cluster_projects_and_applications(cluster: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every AppProject and Application of a cluster: the bootstrap's, the root's and the generated."""
    documents, root = bootstrap(REPO, cluster)
    projects = [d for d in documents if d["kind"] == "AppProject"] + root.of_kind("AppProject")
    apps = [d for d in documents if d["kind"] == "Application"] + root.of_kind("Application") + applications(root)
    return projects, apps


@pytest.mark.parametrize(
    "cluster",
    [
        "local",
        "dev",
        "staging",
        "prod",
    ],
)
def test_each_project_sources_exactly_the_repositories_its_applications_use(cluster: str) -> None:
    projects, apps = cluster_projects_and_applications(cluster)
    assert {p["metadata"]["name"] for p in projects} == {"bootstrap", f"shopfloor-{cluster}", "platform"}
    assert [problem for project in projects for problem in source_repo_problems(project, apps)] == []


@pytest.mark.parametrize(
    ("source_repos", "problem"),
    [
        (["*"], "shopfloor-prod: sourceRepos entry '*' is a pattern, not a repository"),
        (
            ["https://github.com/shopfloor/*"],
            "shopfloor-prod: sourceRepos entry 'https://github.com/shopfloor/*' is a pattern, not a repository",
        ),
        (
            [REPO_URL, "https://charts.example.com"],
            "shopfloor-prod: sourceRepos lists https://charts.example.com, which none of its Applications uses",
        ),
        ([], f"shopfloor-prod: {REPO_URL} is used but not in sourceRepos"),
    ],
    ids=["wildcard", "prefix-glob", "unused", "missing"],
)
def test_a_project_sourcing_more_or_less_than_its_applications_is_reported(
    source_repos: list[str], problem: str
) -> None:
    projects, apps = cluster_projects_and_applications("prod")
    project = copy.deepcopy(next(p for p in projects if p["metadata"]["name"] == "shopfloor-prod"))
    project["spec"]["sourceRepos"] = source_repos
    assert problem in source_repo_problems(project, apps)


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
    assert {a["metadata"]["name"] for a in addons(root)} == ADDONS[cluster]
    platform = root.project("platform")
    assert platform is not None
    for addon in addons(root):
        source = addon["spec"]["source"]
        assert PINNED.fullmatch(source["targetRevision"]), addon["metadata"]["name"]
        assert source["repoURL"] in platform["spec"]["sourceRepos"]
        assert addon["spec"]["project"] == "platform"
        assert int(addon["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) < 0
    appset = root.of_kind("ApplicationSet")[0]
    assert int(appset["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) == 0
    for project in root.of_kind("AppProject"):
        assert int(project["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) < -3


@pytest.mark.parametrize(
    ("values", "refusal"),
    [
        ({"addons": {"traefik": {"enable": True}}}, "additional properties 'enable' not allowed"),
        ({"addons": {"metrics-server": {"version": "latest"}}}, "at '/addons/metrics-server/version'"),
        ({"cluster": {"name": ""}}, "cluster.name: required"),
    ],
)
def test_the_addons_chart_refuses_a_bad_cluster_values_file(values: dict[str, Any], refusal: str) -> None:
    good = load_values([REPO / "argocd" / "addons" / "values-prod.yaml"])
    assert render_chart(REPO, "argocd/addons", good, release="addons", namespace="argocd")
    with pytest.raises(RenderError, match=re.escape(refusal)):
        render_chart(REPO, "argocd/addons", merge_values(good, values), release="addons", namespace="argocd")


def test_notifications_cover_failed_degraded_deployed_and_every_subscription_resolves() -> None:
    configmap = next(
        o
        for _, o in objects(REPO)
        if o.get("kind") == "ConfigMap" and o["metadata"]["name"] == "argocd-notifications-cm"
    )
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


def smoke_jobs(cluster: str, charts: ChartSet) -> list[tuple[str, dict[str, Any]]]:
    """(Application, its smoke Job) for every Application the cluster's ApplicationSet generates,
    rendered from the ApplicationSet as it is."""
    jobs = []
    for application in applications(installed(cluster)):
        manifests = render_application(REPO, charts, application)
        [job] = [m.body for m in manifests if m.kind == "Job" and m.source.startswith("smoke-test/")]
        jobs.append((application["metadata"]["name"], job))
    return jobs


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_every_smoke_job_runs_shopfloor_smoke_from_the_environments_pinned_tools_image(
    cluster: str, charts: ChartSet
) -> None:
    pinned = read_image(image_path(REPO, cluster, TOOLS_IMAGE))
    assert pinned.repository.endswith("/shopfloor/tools")
    for name, job in smoke_jobs(cluster, charts):
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == str(pinned), name
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
    for folder in ("argocd", "environments", "charts"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("charts"))
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
    bodies = [o for _, o in objects(REPO) if o.get("kind") not in (*ARGO_KINDS, *CUSTOM_KINDS)]
    application = applications(installed("prod"))[0]
    bodies += [m.body for m in render_application(REPO, charts, application) if m.source.startswith("smoke-test/")]
    assert {b["kind"] for b in bodies} == {"Namespace", "ConfigMap", "Job"}
    for body in bodies:
        assert kubernetes_validate.validate(body, version, strict=True) == version, body["metadata"]["name"]
