"""What the clusters get from observability/: the chart in that folder as each cluster's Argo CD
Application renders it (argocd/addons: the shopfloor-observability Application's values), checked
against the files it is made from and against kube-prometheus-stack's values.

- every custom resource validates strictly against its upstream CRD (prometheus-operator v0.93.1,
  External Secrets v2.9.0);
- the PrometheusRules carry exactly the rule files (rules/*.yaml and the production SLO rules),
  read from both sides here; promtool checks the rules taken out of the rendered objects and runs
  the repository's promtool unit tests against them;
- the dashboard ConfigMaps carry exactly the generated dashboards, with the label Grafana's
  sidecar is configured to look for;
- amtool accepts the Alertmanager configuration in the rendered Secret, and kube-prometheus-stack's
  values mount the Secret the ExternalSecret makes where its api_url_file reads the Slack URL.

No cluster runs here: Argo CD, kube-prometheus-stack and Grafana are not started; their inputs are.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfloor.delivery.render import Manifest, RenderError, load_values
from tests.crdkit import crd_errors, require_crds
from tests.gitops.argocdkit import render_chart
from tests.observability import alertkit
from tests.observability.alertkit import REPO

CLUSTERS = ("local", "dev", "staging", "prod")
SLACK_CLUSTERS = ("dev", "staging", "prod")
OBSERVABILITY = REPO / "observability"
# The files the clusters must get, found here independently of the chart's templates.
RULE_FILES = [*sorted((OBSERVABILITY / "rules").glob("*.yaml")), OBSERVABILITY / "generated" / "slo-rules.yaml"]
DASHBOARD_FILES = sorted((OBSERVABILITY / "generated" / "dashboards").glob("*.json"))
ROUTING = yaml.safe_load((OBSERVABILITY / "alertmanager" / "routing.yaml").read_text(encoding="utf-8"))


@functools.cache
def addons(cluster: str) -> list[Manifest]:
    """The cluster's add-on Applications (rendered once: the tests only read them)."""
    values = load_values([REPO / "argocd" / "addons" / f"values-{cluster}.yaml"])
    return render_chart(REPO, "argocd/addons", values, release="addons", namespace="argocd")


def application(cluster: str, name: str) -> dict[str, Any]:
    found = [m.body for m in addons(cluster) if m.kind == "Application" and m.name == name]
    assert len(found) == 1, f"{cluster}: no Application {name}"
    return found[0]


def render_observability(cluster: str) -> list[Manifest]:
    """observability/ rendered as the cluster's Application asks (path, values, namespace)."""
    app = application(cluster, "shopfloor-observability")
    source = app["spec"]["source"]
    return render_chart(
        REPO,
        source["path"],
        source["helm"]["valuesObject"],
        release=source["helm"]["releaseName"],
        namespace=app["spec"]["destination"]["namespace"],
    )


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    return {cluster: render_observability(cluster) for cluster in CLUSTERS}


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m.kind == kind]


def rule_drift(manifests: list[Manifest], files: list[Path]) -> list[str]:
    """Every rule file without a PrometheusRule carrying it exactly, and every PrometheusRule that
    carries no rule file."""
    problems = []
    by_source = {m.annotations.get("shopfloor.io/source"): m for m in of_kind(manifests, "PrometheusRule")}
    for path in files:
        source = str(path.relative_to(REPO))
        manifest = by_source.pop(source, None)
        if manifest is None:
            problems.append(f"{source}: no PrometheusRule carries it")
        elif manifest.body["spec"] != yaml.safe_load(path.read_text(encoding="utf-8")):
            problems.append(f"{source}: PrometheusRule/{manifest.name} differs from the file")
    problems += [f"PrometheusRule/{m.name} ({source}) is not one of the rule files" for source, m in by_source.items()]
    return problems


def dashboard_drift(manifests: list[Manifest], files: list[Path], label: dict[str, str]) -> list[str]:
    problems = []
    found: dict[str, Any] = {}
    for configmap in of_kind(manifests, "ConfigMap"):
        labels = configmap.body["metadata"].get("labels", {})
        if labels.get(label["label"]) != label["labelValue"]:
            continue
        for key, text in configmap.body["data"].items():
            found[key] = json.loads(text)
    for path in files:
        if path.name not in found:
            problems.append(f"{path.name}: no ConfigMap labelled {label['label']}={label['labelValue']} carries it")
        elif found.pop(path.name) != json.loads(path.read_text(encoding="utf-8")):
            problems.append(f"{path.name}: the ConfigMap's dashboard differs from the file")
    problems += [f"{key}: a dashboard ConfigMap without a generated file" for key in found]
    return problems


def kube_prometheus_stack(cluster: str) -> dict[str, Any]:
    app = application(cluster, "kube-prometheus-stack")
    return dict(app["spec"]["source"]["helm"]["valuesObject"])


# --- custom resources against their CRDs --------------------------------------------------------


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_every_custom_resource_validates_against_its_crd(rendered: dict[str, list[Manifest]], cluster: str) -> None:
    require_crds()
    custom = [m for m in rendered[cluster] if m.kind in ("PrometheusRule", "ExternalSecret")]
    assert len(of_kind(custom, "PrometheusRule")) == len(RULE_FILES)
    assert len(of_kind(custom, "ExternalSecret")) == (1 if cluster in SLACK_CLUSTERS else 0)
    assert [error for m in custom for error in crd_errors(m.body)] == []


def test_the_crd_check_refuses_a_broken_rule(rendered: dict[str, list[Manifest]]) -> None:
    require_crds()
    rule = copy.deepcopy(of_kind(rendered["prod"], "PrometheusRule")[0].body)
    rule["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    assert any("/spec/groups/0/rules/0/for" in error for error in crd_errors(rule))


# --- the PrometheusRules are the rule files -----------------------------------------------------


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_the_prometheus_rules_are_the_rule_files(rendered: dict[str, list[Manifest]], cluster: str) -> None:
    assert RULE_FILES[-1].is_file()
    assert rule_drift(rendered[cluster], RULE_FILES) == []


def test_a_drift_between_the_files_and_the_objects_is_found(rendered: dict[str, list[Manifest]]) -> None:
    manifests = copy.deepcopy(rendered["prod"])
    rules = of_kind(manifests, "PrometheusRule")
    rules[0].body["spec"]["groups"][0]["rules"][0]["expr"] = "vector(1)"
    assert rule_drift(manifests, RULE_FILES) == [
        f"{rules[0].annotations['shopfloor.io/source']}: PrometheusRule/{rules[0].name} differs from the file"
    ]
    # The lab rules are not the clusters' (production windows there); a rule file left out is named.
    lab = OBSERVABILITY / "generated" / "slo-rules.lab.yaml"
    assert rule_drift(rendered["prod"], [*RULE_FILES, lab]) == [
        "observability/generated/slo-rules.lab.yaml: no PrometheusRule carries it"
    ]


def extract_rules(manifests: list[Manifest], target: Path) -> dict[str, Path]:
    """Each PrometheusRule's spec as a rule file; source path (observability/...) -> the file."""
    extracted = {}
    for manifest in of_kind(manifests, "PrometheusRule"):
        path = target / f"{manifest.name}.yaml"
        path.write_text(yaml.safe_dump(manifest.body["spec"], sort_keys=False), encoding="utf-8")
        extracted[manifest.annotations["shopfloor.io/source"]] = path
    return extracted


def test_promtool_checks_and_tests_the_rules_taken_from_the_cluster_objects(
    rendered: dict[str, list[Manifest]], promtool_binary: str, tmp_path: Path
) -> None:
    """The rules as the cluster's Prometheus gets them pass promtool check, and the repository's
    unit tests of each hand-written rule file pass against them (the test files rewritten to
    point there)."""
    extracted = extract_rules(rendered["prod"], tmp_path)
    check = alertkit.promtool(promtool_binary, "check", "rules", *extracted.values())
    assert check.returncode == 0, check.stdout + check.stderr
    tests = []
    for test_file in alertkit.promtool_test_files(REPO):
        document = yaml.safe_load(test_file.read_text(encoding="utf-8"))
        sources = [str((test_file.parent / f).resolve().relative_to(REPO)) for f in document["rule_files"]]
        if not all(source in extracted for source in sources):
            continue  # the lab profile's tests: not a cluster's rules
        if test_file.name == "slo-rules.test.yaml":
            # ~12 s of three-day windows, already run by test_alert_rules on the file these rules
            # are proven equal to (test_the_prometheus_rules_are_the_rule_files).
            continue
        document["rule_files"] = [str(extracted[source]) for source in sources]
        copy_path = tmp_path / test_file.name
        copy_path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        tests.append(copy_path)
    assert len(tests) == len(RULE_FILES) - 1
    result = alertkit.promtool(promtool_binary, "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Prometheus and Grafana select these objects ------------------------------------------------


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_kube_prometheus_stack_selects_them(rendered: dict[str, list[Manifest]], cluster: str) -> None:
    app = application(cluster, "kube-prometheus-stack")
    assert app["spec"]["source"]["targetRevision"] == "88.5.3"
    values = kube_prometheus_stack(cluster)
    spec = values["prometheus"]["prometheusSpec"]
    # Without these, the chart's Prometheus only selects objects labelled release=<its release>.
    for key in ("serviceMonitorSelectorNilUsesHelmValues", "ruleSelectorNilUsesHelmValues"):
        assert spec[key] is False, key
    for key in ("serviceMonitorSelector", "ruleSelector", "serviceMonitorNamespaceSelector", "ruleNamespaceSelector"):
        assert key not in spec, f"{key} narrows the selection: say why and test what it selects"
    observability = application(cluster, "shopfloor-observability")
    assert observability["spec"]["destination"]["namespace"] == app["spec"]["destination"]["namespace"]
    assert int(observability["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) > int(
        app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
    )
    sidecar = values["grafana"]["sidecar"]["dashboards"]
    assert sidecar["enabled"] is True
    assert sidecar["searchNamespace"] == "ALL"
    assert dashboard_drift(rendered[cluster], DASHBOARD_FILES, sidecar) == []


def test_a_dashboard_drift_is_found(rendered: dict[str, list[Manifest]]) -> None:
    label = {"label": "grafana_dashboard", "labelValue": "1"}
    manifests = copy.deepcopy(rendered["prod"])
    configmap = next(m for m in of_kind(manifests, "ConfigMap") if "shopfloor-platform.json" in m.body["data"])
    configmap.body["data"]["shopfloor-platform.json"] = json.dumps({"title": "something else"})
    assert dashboard_drift(manifests, DASHBOARD_FILES, label) == [
        "shopfloor-platform.json: the ConfigMap's dashboard differs from the file"
    ]
    configmap.body["metadata"]["labels"]["grafana_dashboard"] = "0"
    assert dashboard_drift(manifests, DASHBOARD_FILES, label) == [
        "shopfloor-platform.json: no ConfigMap labelled grafana_dashboard=1 carries it"
    ]


# --- Alertmanager -------------------------------------------------------------------------------


def alertmanager_config(manifests: list[Manifest], name: str) -> str:
    secret = next(m for m in manifests if m.kind == "Secret" and m.name == name)
    return str(secret.body["stringData"]["alertmanager.yaml"])


def slack_wiring_problems(cluster: str, manifests: list[Manifest]) -> list[str]:
    """kube-prometheus-stack's Alertmanager reads the rendered configuration Secret and mounts the
    Secret the ExternalSecret writes, at the path the configuration's api_url_file names."""
    problems = []
    spec = kube_prometheus_stack(cluster)["alertmanager"]["alertmanagerSpec"]
    observability = application(cluster, "shopfloor-observability")["spec"]["source"]["helm"]["valuesObject"]
    config_secret = observability.get("alertmanager", {}).get("configSecret", "alertmanager-shopfloor")
    if not (spec.get("useExistingSecret") is True and spec.get("configSecret") == config_secret):
        problems.append(
            f"{cluster}: Alertmanager does not read Secret {config_secret} (useExistingSecret, configSecret)"
        )
    config = yaml.safe_load(alertmanager_config(manifests, config_secret))
    files = {
        slack["api_url_file"]
        for receiver in config["receivers"]
        for slack in receiver.get("slack_configs", [])
        if "api_url_file" in slack
    }
    external = of_kind(manifests, "ExternalSecret")[0].body["spec"]
    mounted = {
        f"/etc/alertmanager/secrets/{secret}/{data['secretKey']}"
        for secret in spec.get("secrets", [])
        if secret == external["target"]["name"]
        for data in external["data"]
    }
    if not files or not files <= mounted:
        problems.append(f"{cluster}: Slack reads {sorted(files)}, the mounted ExternalSecret gives {sorted(mounted)}")
    return problems


@pytest.mark.parametrize("cluster", SLACK_CLUSTERS)
def test_amtool_accepts_the_rendered_configuration_and_slack_is_wired(
    rendered: dict[str, list[Manifest]], amtool: str, cluster: str, tmp_path: Path
) -> None:
    config = alertmanager_config(rendered[cluster], "alertmanager-shopfloor")
    generated = (OBSERVABILITY / "generated" / "alertmanager" / f"{cluster}.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(config) == yaml.safe_load(generated)
    path = tmp_path / "alertmanager.yaml"
    path.write_text(config, encoding="utf-8")
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert slack_wiring_problems(cluster, rendered[cluster]) == []
    external = of_kind(rendered[cluster], "ExternalSecret")[0].body["spec"]
    assert external["target"]["name"] == ROUTING["slack"]["secret"]
    assert [d["secretKey"] for d in external["data"]] == [ROUTING["slack"]["key"]]
    # Inside shopfloor/<cluster>/: the only prefix External Secrets may read (terraform/modules/secrets).
    assert re.fullmatch(rf"shopfloor/{cluster}/[a-z-]+", external["data"][0]["remoteRef"]["key"])


def test_a_broken_slack_wiring_is_found(rendered: dict[str, list[Manifest]]) -> None:
    manifests = copy.deepcopy(rendered["prod"])
    external = of_kind(manifests, "ExternalSecret")[0]
    external.body["spec"]["data"][0]["secretKey"] = "url"
    assert slack_wiring_problems("prod", manifests) == [
        "prod: Slack reads ['/etc/alertmanager/secrets/alertmanager-slack/webhook-url'], "
        "the mounted ExternalSecret gives ['/etc/alertmanager/secrets/alertmanager-slack/url']"
    ]


def test_the_local_cluster_keeps_its_own_alertmanager_configuration(rendered: dict[str, list[Manifest]]) -> None:
    """kind has no Secrets Manager: no Slack ExternalSecret, no configuration Secret, and
    kube-prometheus-stack is not told to wait for one."""
    assert not [m for m in rendered["local"] if m.kind in ("Secret", "ExternalSecret")]
    assert "alertmanager" not in kube_prometheus_stack("local")


def test_the_chart_refuses_a_cluster_without_a_generated_configuration() -> None:
    with pytest.raises(RenderError, match=r"no generated/alertmanager/local\.yaml"):
        render_chart(REPO, "observability", {"cluster": "local"}, release="x", namespace="monitoring")
    with pytest.raises(RenderError, match="at '/cluster'"):
        render_chart(
            REPO,
            "observability",
            {"alertmanager": {"enabled": False}, "slack": {"enabled": False}},
            release="x",
            namespace="monitoring",
        )
