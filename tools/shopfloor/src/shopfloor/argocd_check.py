"""What Argo CD would make of argocd/: the root Applications' files, the ApplicationSets' generated
Applications, and whether each one is allowed by its AppProject and renders.

Argo CD cannot run here, so this evaluates the parts of it the repository relies on, and only
those: a directory source's `include` glob, the git generator's `directories` (with `exclude`),
Go templates that are plain field references (`{{ .path.basename }}`; anything else is refused
rather than guessed), `$values` value files and `ignoreMissingValueFiles`. Rendering is Helm's
own engine (shopfloor.delivery.render). tests/gitops drives it; docs/gitops.md says what is not covered.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import helm_python
import yaml

from shopfloor.delivery.render import ChartSet, Manifest, RenderError, load_values, merge_values, split_documents

ARGOCD_DIR = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
# Helm chart folders hold templates, not manifests.
CHART_DIRS = ("smoke-test",)
_FIELD = re.compile(r"\{\{-?\s*((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*-?\}\}")
_ANY_ACTION = re.compile(r"\{\{.*?\}\}")


class ArgoError(Exception):
    pass


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def manifest_files(repo: Path) -> list[Path]:
    """Every Argo CD / Kubernetes manifest under argocd/ (not the smoke-test chart's templates)."""
    root = repo / ARGOCD_DIR
    return sorted(
        path
        for path in root.rglob("*.yaml")
        if path.relative_to(root).parts[0] not in CHART_DIRS and path.name != "Chart.yaml"
    )


def objects(repo: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in manifest_files(repo) for doc in load_yaml_documents(path)]


# ---------------------------------------------------------------------------------------------
# Globs: Go's path.Match, where `*` never crosses a `/`, plus Argo CD's `{a,b}` alternatives.


def _expand_braces(pattern: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", pattern)
    if not match:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [expanded for option in match.group(1).split(",") for expanded in _expand_braces(head + option + tail)]


def path_match(pattern: str, path: str) -> bool:
    for alternative in _expand_braces(pattern):
        pattern_parts, path_parts = alternative.split("/"), path.split("/")
        if len(pattern_parts) == len(path_parts) and all(
            fnmatch.fnmatchcase(part, glob) for part, glob in zip(path_parts, pattern_parts, strict=True)
        ):
            return True
    return False


def directory_source_files(repo: Path, source: Mapping[str, Any]) -> list[Path]:
    """The files a plain-directory source applies (recurse, include, exclude)."""
    base = repo / source["path"]
    directory = source.get("directory") or {}
    candidates = base.rglob("*") if directory.get("recurse") else base.glob("*")
    include, exclude = directory.get("include"), directory.get("exclude")
    chosen = []
    for path in sorted(candidates):
        if not path.is_file() or path.suffix not in (".yaml", ".yml", ".json"):
            continue
        relative = path.relative_to(base).as_posix()
        if include and not path_match(include, relative):
            continue
        if exclude and path_match(exclude, relative):
            continue
        chosen.append(path)
    return chosen


# ---------------------------------------------------------------------------------------------
# ApplicationSet evaluation


def git_directories(repo: Path, generator: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Parameters of a git generator's `directories`, as Argo CD's goTemplate mode names them."""
    unknown = sorted(set(generator) - {"repoURL", "revision", "directories"})
    if unknown:
        raise ArgoError(f"git generator fields not evaluated here: {unknown}")
    included: list[str] = []
    excluded: list[str] = []
    for entry in generator["directories"]:
        (excluded if entry.get("exclude") else included).append(entry["path"])
    found = set()
    for pattern in included:
        for path in repo.glob(pattern):
            relative = path.relative_to(repo).as_posix()
            if path.is_dir() and not path.name.startswith(".") and not any(path_match(e, relative) for e in excluded):
                found.add(relative)
    params = []
    for relative in sorted(found):
        posix = PurePosixPath(relative)
        params.append(
            {
                "path": {
                    "path": relative,
                    "basename": posix.name,
                    "basenameNormalized": re.sub(r"[^a-z0-9-]", "-", posix.name.lower()),
                    "segments": list(posix.parts),
                }
            }
        )
    return params


def _lookup(params: Mapping[str, Any], reference: str) -> str:
    value: Any = params
    for key in reference.strip(".").split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise ArgoError(f"{{{{ {reference} }}}}: no such parameter (missingkey=error)")
        value = value[key]
    return str(value)


def render_string(text: str, params: Mapping[str, Any]) -> str:
    rendered = _FIELD.sub(lambda match: _lookup(params, match.group(1)), text)
    leftover = _ANY_ACTION.search(rendered)
    if leftover:
        raise ArgoError(f"template action not evaluated here: {leftover.group(0)}")
    return rendered


def render_template(node: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        return render_string(node, params)
    if isinstance(node, list):
        return [render_template(item, params) for item in node]
    if isinstance(node, dict):
        return {render_string(key, params): render_template(value, params) for key, value in node.items()}
    return node


def generate(repo: Path, application_set: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Applications an ApplicationSet makes from the repository as it is on disk."""
    spec = application_set["spec"]
    if not spec.get("goTemplate"):
        raise ArgoError("only goTemplate ApplicationSets are evaluated here")
    if "templatePatch" in spec:
        raise ArgoError("templatePatch is not evaluated here")
    applications = []
    for generator in spec["generators"]:
        if set(generator) != {"git"}:
            raise ArgoError(f"generator not evaluated here: {sorted(generator)}")
        for params in git_directories(repo, generator["git"]):
            template = render_template(copy.deepcopy(spec["template"]), params)
            applications.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **template})
    return applications


# ---------------------------------------------------------------------------------------------
# Projects and generated Applications


@dataclass
class Cluster:
    """What one cluster's root Application installs."""

    name: str
    objects: list[dict[str, Any]] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def project(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.of_kind("AppProject") if p["metadata"]["name"] == name), None)


def bootstrap(repo: Path, cluster: str) -> tuple[list[dict[str, Any]], Cluster]:
    """The bootstrap file's objects, and what its root Application installs."""
    documents = load_yaml_documents(repo / ARGOCD_DIR / "bootstrap" / f"{cluster}.yaml")
    roots = [d for d in documents if d.get("kind") == "Application"]
    if len(roots) != 1:
        raise ArgoError(f"argocd/bootstrap/{cluster}.yaml: want one root Application, found {len(roots)}")
    installed = Cluster(cluster)
    for path in directory_source_files(repo, roots[0]["spec"]["source"]):
        installed.objects.extend(load_yaml_documents(path))
    return documents, installed


def _kind_allowed(rules: Iterable[Mapping[str, str]], group: str, kind: str) -> bool:
    return any(
        fnmatch.fnmatchcase(group, r.get("group", "")) and fnmatch.fnmatchcase(kind, r.get("kind", "")) for r in rules
    )


def api_group(body: Mapping[str, Any]) -> str:
    api_version = str(body.get("apiVersion", ""))
    return api_version.split("/")[0] if "/" in api_version else ""


CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass",
                  "PersistentVolume", "PriorityClass", "IngressClass", "ClusterSecretStore", "APIService",
                  "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}  # fmt: skip


def permission_problems(
    project: Mapping[str, Any], application: Mapping[str, Any], manifests: Iterable[Manifest]
) -> list[str]:
    spec = project["spec"]
    name = application["metadata"]["name"]
    problems = []
    for source in application["spec"].get("sources") or [application["spec"]["source"]]:
        if not any(fnmatch.fnmatchcase(source["repoURL"], allowed) for allowed in spec.get("sourceRepos", [])):
            problems.append(f"{name}: source {source['repoURL']} is not among the project's sourceRepos")
    destination = application["spec"]["destination"]
    if not any(
        fnmatch.fnmatchcase(destination.get("server", ""), d.get("server", ""))
        and fnmatch.fnmatchcase(destination.get("namespace", ""), d.get("namespace", ""))
        for d in spec.get("destinations", [])
    ):
        problems.append(f"{name}: destination {destination} is not permitted by project {project['metadata']['name']}")
    for manifest in manifests:
        group, kind = api_group(manifest.body), manifest.kind
        rules = (
            spec.get("clusterResourceWhitelist", [])
            if kind in CLUSTER_SCOPED
            else spec.get("namespaceResourceWhitelist", [])
        )
        if not _kind_allowed(rules or [], group, kind):
            problems.append(
                f"{name}: {group or 'core'}/{kind} ({manifest.ref}) is not permitted by "
                f"project {project['metadata']['name']}"
            )
        namespace = manifest.body.get("metadata", {}).get("namespace")
        if namespace and namespace != destination.get("namespace"):
            problems.append(f"{name}: {manifest.ref} goes to namespace {namespace}, not the destination's")
    return problems


def _value_file_path(repo: Path, source: Mapping[str, Any], value_file: str) -> Path:
    if value_file.startswith("$values/"):
        return repo / value_file.removeprefix("$values/")
    return repo / str(source["path"]) / value_file


def render_application(repo: Path, charts: ChartSet, application: Mapping[str, Any]) -> list[Manifest]:
    """Render every Helm source of a generated Application from this repository, as Argo CD would."""
    spec = application["spec"]
    namespace = spec["destination"]["namespace"]
    manifests: list[Manifest] = []
    for source in spec.get("sources") or [spec["source"]]:
        if "path" not in source:
            continue  # a `ref` source only lends its files
        helm = source.get("helm") or {}
        files = [_value_file_path(repo, source, f) for f in helm.get("valueFiles", [])]
        missing = [f for f in files if not f.is_file()]
        if missing and not helm.get("ignoreMissingValueFiles"):
            raise ArgoError(f"{application['metadata']['name']}: missing value files {missing}")
        values = merge_values(load_values([f for f in files if f.is_file()]), helm.get("valuesObject") or {})
        release = helm.get("releaseName") or application["metadata"]["name"]
        path = PurePosixPath(source["path"])
        if path.parts[0] == "charts":
            rendered = charts.render(
                path.name, values, environment=application["metadata"]["name"], namespace=namespace
            )
            manifests += rendered.manifests
            continue
        chart = helm_python.Chart.load(repo / path)
        try:
            templates = chart.render(values, name=release, namespace=namespace)
        except helm_python.HelmError as exc:
            raise RenderError(f"{path}: {exc}") from None
        finally:
            chart.close()
        for template, text in sorted(templates.items()):
            if not template.endswith("NOTES.txt"):
                manifests += split_documents(str(path), template, text)
    return manifests
