"""Issue 12's proof that one service chart renders what the four service charts rendered.

render-equivalence.json holds, per environment, a digest of every rendered object as the charts of
the commit before the change (PRE_CHANGE: charts/<service> each, released with environments/<env>/
<name>/values.yaml and image.yaml) render it from the environment's current value files, after
normalising what names the chart: the `helm.sh/chart` label, and the `checksum/*` pod annotations,
which hash objects that carry that label. test_chart_equivalence.py compares today's render with it.

It is a committed digest rather than a render of PRE_CHANGE at test time because CI checks out one
commit only (no history to take the old charts from). Regenerate it, from a clone with history, when
an environment's values change (the test says so):

    .venv/bin/python -m tests.charts.equivalence --write

which renders PRE_CHANGE's charts (git archive) with the current environments/. It also prints
whether the add-on Applications argocd/addons renders per cluster equal PRE_CHANGE's
argocd/clusters/<cluster>/addons.yaml.

Later changes of the chart's output on purpose are recorded, each with its reason, in
render-changes.json: the objects that render differently from the pre-change charts, with their
new digests. The test then expects the pre-change render with those changes, so any other
difference is still caught. Record one (after the chart change, with the environments as they are):

    .venv/bin/python -m tests.charts.equivalence --accept "issue N: what changed and why"
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import helm_python
import yaml

from shopfloor.delivery.render import (
    ChartSet,
    RenderedEnvironment,
    environments,
    load_values,
    render_environment,
    split_documents,
)
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)
DIGESTS = Path(__file__).with_name("render-equivalence.json")
CHANGES = Path(__file__).with_name("render-changes.json")
# The last commit with charts/{frontend,api-gateway,catalog,orders} and argocd/clusters/*/addons.yaml.
PRE_CHANGE = "5a2e33fd8d45d50db95ed9e3d8fa84df35333b5d"
CHART_LABEL = "helm.sh/chart"
CHECKSUM_PREFIX = "checksum/"
# What issue 17 changed on purpose since the proof, so the comparison stays about the refactor:
# the Reloader annotation and the ExternalSecrets' refresh interval (secret rotation rolls pods;
# tests/contract checks both), and a variable read from a Secret is no longer also in the ConfigMap
# (REDIS_URL: rediss:// with the AUTH token in staging and prod; see since_pre_change).
IGNORED_KEYS = ("secret.reloader.stakater.com/reload", "refreshInterval")
# Objects issue 17 added that no old chart can render (the RDS database bootstrap Job and its
# ConfigMap, ExternalSecret, ServiceAccount, NetworkPolicy): recorded from the current charts.
NEW_COMPONENTS = ("bootstrap",)
OLD_VALUES_FILES = ("values.yaml", "image.yaml")
# Kinds the service chart renders since PRE_CHANGE, on purpose: the equivalence is about what the
# four charts rendered, so objects of these kinds are left out of both sides (each has its own tests).
ADDED_SINCE_PRE_CHANGE = {
    "ServiceMonitor": "issue 13: the scrape of /metrics (tests/observability/test_cluster_objects.py)",
}


def normalise(node: Any) -> Any:
    """The object without what names its chart: the helm.sh/chart label dropped, checksum/*
    annotations reduced to their presence."""
    if isinstance(node, dict):
        kept = {
            key: ("<checksum>" if key.startswith(CHECKSUM_PREFIX) else normalise(value))
            for key, value in node.items()
            if key != CHART_LABEL and key not in IGNORED_KEYS
        }
        # Annotations left empty by IGNORED_KEYS are no annotations.
        return {key: value for key, value in kept.items() if not (key == "annotations" and value == {})}
    if isinstance(node, list):
        return [normalise(item) for item in node]
    return node


def digest(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(normalise(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# Ingress rules the data stores' NetworkPolicies gained since PRE_CHANGE, on purpose: their
# exporters (issue 13). Dropped from today's render before the digest; the rest must be equal.
EXPORTERS_ADDED_SINCE_PRE_CHANGE = {"prometheus-postgres-exporter", "prometheus-redis-exporter"}


def without_exporter_ingress(body: Mapping[str, Any]) -> Mapping[str, Any]:
    if body.get("kind") != "NetworkPolicy":
        return body

    def from_exporter(rule: Mapping[str, Any]) -> bool:
        peers = rule.get("from", [])
        names = {p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") for p in peers}
        return bool(peers) and names <= EXPORTERS_ADDED_SINCE_PRE_CHANGE

    spec = dict(body["spec"])
    spec["ingress"] = [rule for rule in spec.get("ingress", []) if not from_exporter(rule)]
    return {**body, "spec": spec}


def object_digests(rendered: RenderedEnvironment) -> dict[str, str]:
    return {
        manifest.ref: digest(without_exporter_ingress(manifest.body))
        for manifest in rendered.manifests
        if manifest.kind not in ADDED_SINCE_PRE_CHANGE
    }


def input_digests(repo: Path, environment: str) -> dict[str, str]:
    """A digest of each folder's value files: what both renders take from environments/."""
    found = {}
    for folder in sorted(p for p in (repo / "environments" / environment).iterdir() if p.is_dir()):
        text = "".join(f"{f.name}\n{f.read_text(encoding='utf-8')}" for f in sorted(folder.glob("*.yaml")))
        found[folder.name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return found


def differences(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """The refs that are new, gone, or render differently."""
    return sorted(ref for ref in set(recorded) | set(current) if recorded.get(ref) != current.get(ref))


def recorded_changes() -> list[dict[str, Any]]:
    if not CHANGES.is_file():
        return []
    changes: list[dict[str, Any]] = json.loads(CHANGES.read_text(encoding="utf-8"))["changes"]
    return changes


def expected_digests(recorded: Mapping[str, str], environment: str) -> dict[str, str]:
    """The pre-change digests of `environment` with every recorded change on purpose applied in
    order (an empty digest: the object is gone)."""
    expected = dict(recorded)
    for change in recorded_changes():
        for ref, value in change["digests"].get(environment, {}).items():
            if value:
                expected[ref] = value
            else:
                expected.pop(ref, None)
    return expected


def accept(reason: str, recorded: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """A change record: per environment, each object whose current render differs from what is
    expected so far, with its current digest."""
    from shopfloor.delivery.render import render_environment

    digests: dict[str, dict[str, str]] = {}
    with ChartSet(REPO) as charts:
        for environment, record in sorted(recorded.items()):
            expected = expected_digests(record["objects"], environment)
            current = object_digests(render_environment(charts, environment))
            changed = {ref: current.get(ref, "") for ref in differences(expected, current)}
            if changed:
                digests[environment] = changed
    return digests


def _git_archive(repo: Path, commit: str, paths: list[str], target: Path) -> None:
    archive = subprocess.run(["git", "-C", str(repo), "archive", commit, *paths], check=True, capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")


def render_pre_change(repo: Path, commit: str = PRE_CHANGE) -> dict[str, RenderedEnvironment]:
    """Every environment as `commit`'s charts render it, with the current environments/ (the
    release layout of that commit: one chart per folder, values.yaml then image.yaml)."""
    rendered: dict[str, RenderedEnvironment] = {}
    with tempfile.TemporaryDirectory(prefix="shopfloor-pre-change-") as scratch:
        old = Path(scratch)
        _git_archive(repo, commit, ["charts"], old)
        shutil.copytree(repo / "environments", old / "environments")
        with ChartSet(old) as charts:
            for environment in environments(old):
                env = RenderedEnvironment(environment=environment, namespace="shopfloor")
                for folder in sorted(p for p in (old / "environments" / environment).iterdir() if p.is_dir()):
                    files = [folder / name for name in OLD_VALUES_FILES if (folder / name).is_file()]
                    values = load_values(files)
                    # Keys issue 17 added, which the old charts' schemas refuse (their objects: NEW_OBJECTS).
                    values.pop("bootstrap", None)
                    env.releases[folder.name] = charts.render(
                        folder.name, values, release=folder.name, environment=environment
                    )
                rendered[environment] = env
    return rendered


def since_pre_change(rendered: RenderedEnvironment) -> RenderedEnvironment:
    """Issue 17's intended change to a PRE_CHANGE render: a ConfigMap no longer holds a variable
    its release's pods read from a Secret (the old charts kept REDIS_URL's plain default there)."""
    for release in rendered.releases.values():
        from_secrets = {
            variable["name"]
            for manifest in release.manifests
            if manifest.kind == "Deployment"
            for container in manifest.body["spec"]["template"]["spec"]["containers"]
            for variable in container.get("env") or []
            if "secretKeyRef" in variable.get("valueFrom", {})
        }
        for manifest in release.manifests:
            if manifest.kind == "ConfigMap":
                for name in from_secrets:
                    (manifest.body.get("data") or {}).pop(name, None)
            if manifest.kind == "Job":
                for container in manifest.body["spec"]["template"]["spec"]["containers"]:
                    container["env"] = [
                        variable
                        for variable in container.get("env") or []
                        if not (variable["name"] in from_secrets and "value" in variable)
                    ]
    return rendered


def _addon_applications(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d
        for d in docs
        if d and d.get("kind") == "Application" and "chart" in d["spec"].get("source", {})
    }


def compare_addons(repo: Path, commit: str = PRE_CHANGE) -> dict[str, list[str]]:
    """Per cluster, the add-on Applications that argocd/addons renders differently from `commit`'s
    argocd/clusters/<cluster>/addons.yaml (empty lists: identical)."""
    result = {}
    for values in sorted((repo / "argocd" / "addons").glob("values-*.yaml")):
        cluster = values.stem.removeprefix("values-")
        old_text = subprocess.run(
            ["git", "-C", str(repo), "show", f"{commit}:argocd/clusters/{cluster}/addons.yaml"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        chart = helm_python.Chart.load(repo / "argocd" / "addons")
        try:
            templates = chart.render(load_values([values]), name="addons", namespace="argocd")
        finally:
            chart.close()
        new = _addon_applications([m.body for t, text in templates.items() for m in split_documents("addons", t, text)])
        old = _addon_applications(list(yaml.safe_load_all(old_text)))
        result[cluster] = sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write {DIGESTS.name} (else print it)")
    parser.add_argument("--accept", metavar="REASON", help=f"record today's differences in {CHANGES.name}")
    args = parser.parse_args(argv)
    if args.accept is not None:
        if not args.accept.strip():
            parser.error("--accept needs a reason: which issue changed the chart's output, and why")
        digests = accept(args.accept, json.loads(DIGESTS.read_text())["environments"])
        if not digests:
            print("the render is what is recorded: nothing to accept")
            return 0
        changes = recorded_changes()
        changes.append({"reason": args.accept.strip(), "digests": digests})
        CHANGES.write_text(
            json.dumps(
                {
                    "about": "Chart output changed on purpose after the pre-change proof; see equivalence.py.",
                    "changes": changes,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        print(f"wrote {CHANGES.relative_to(REPO)}: " + ", ".join(f"{e}: {len(d)}" for e, d in digests.items()))
        return 0
    rendered = render_pre_change(REPO)
    with ChartSet(REPO) as charts:
        for name, env in rendered.items():
            current = render_environment(charts, name)
            for release, now in current.releases.items():
                added = [
                    m
                    for m in now.manifests
                    if m.body["metadata"].get("labels", {}).get("app.kubernetes.io/component") in NEW_COMPONENTS
                ]
                if added and release in env.releases:
                    env.releases[release].manifests.extend(added)
    record = {
        "about": "Digests of the render of every environment by the charts of from_commit with the current "
        "environments/, normalised as tests/charts/equivalence.py says. Regenerate: "
        ".venv/bin/python -m tests.charts.equivalence --write",
        "from_commit": PRE_CHANGE,
        "environments": {
            name: {
                "inputs": input_digests(REPO, name),
                "objects": dict(sorted(object_digests(since_pre_change(env)).items())),
            }
            for name, env in sorted(rendered.items())
        },
    }
    text = json.dumps(record, indent=2) + "\n"
    if args.write:
        DIGESTS.write_text(text, encoding="utf-8")
        print(f"wrote {DIGESTS.relative_to(REPO)}")
    else:
        sys.stdout.write(text)
    for cluster, changed in compare_addons(REPO).items():
        print(f"add-ons of {cluster}: " + (f"differ from {PRE_CHANGE[:7]}: {changed}" if changed else "identical"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
