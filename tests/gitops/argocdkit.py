"""What Argo CD would make of argocd/: the root Applications' sources, the ApplicationSets'
generated Applications, and whether each one is allowed by its AppProject and renders.

Argo CD cannot run here, so this evaluates the parts of it the repository relies on, and only
those: a directory source's `include` glob; a Helm source (a chart of this repository rendered
with its value files); the git generator's `directories` (with `exclude`) and `files`, with
`values` and `pathParamPrefix`; the matrix generator of two children, the second interpolated with
the first's parameters; Go templates that are plain field references (`{{ .path.basename }}`;
anything else is refused rather than guessed); `$values` value files and
`ignoreMissingValueFiles`. Rendering is Helm's own engine (shopfloor.delivery.render).
tests/gitops drives it; docs/gitops.md says what is not covered.
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
_FIELD = re.compile(r"\{\{-?\s*((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*-?\}\}")
_ANY_ACTION = re.compile(r"\{\{.*?\}\}")


class ArgoError(Exception):
    pass


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def chart_dirs(repo: Path) -> list[Path]:
    """The Helm charts under argocd/ (the add-ons, the smoke test): templates, not manifests."""
    return sorted(path.parent for path in (repo / ARGOCD_DIR).rglob("Chart.yaml"))


def manifest_files(repo: Path) -> list[Path]:
    """Every Argo CD / Kubernetes manifest under argocd/ (not the charts' files)."""
    charts = chart_dirs(repo)
    return sorted(
        path for path in (repo / ARGOCD_DIR).rglob("*.yaml") if not any(path.is_relative_to(chart) for chart in charts)
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
# Go templates that are plain field references


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


# ---------------------------------------------------------------------------------------------
# ApplicationSet generators


def _path_params(directory: str, generator: Mapping[str, Any], file: str | None = None) -> dict[str, Any]:
    """The `path` parameters of one directory (or file), named as goTemplate mode names them."""
    posix = PurePosixPath(directory)
    path: dict[str, Any] = {
        "path": directory,
        "basename": posix.name,
        "basenameNormalized": re.sub(r"[^a-z0-9-]", "-", posix.name.lower()),
        "segments": list(posix.parts),
    }
    if file is not None:
        path["filename"] = file
        path["filenameNormalized"] = re.sub(r"[^a-z0-9-]", "-", file.lower())
    prefix = generator.get("pathParamPrefix")
    return {prefix: {"path": path}} if prefix else {"path": path}


def _with_values(params: dict[str, Any], generator: Mapping[str, Any]) -> dict[str, Any]:
    """A generator's `values`, each rendered with the parameters it comes with, under `.values`."""
    if generator.get("values"):
        params["values"] = {key: render_string(str(value), params) for key, value in generator["values"].items()}
    return params


def git_directories(repo: Path, generator: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Parameters of a git generator's `directories` (Go's path.Match, `exclude` wins)."""
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
    return [_with_values(_path_params(relative, generator), generator) for relative in sorted(found)]


def git_files(repo: Path, generator: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Parameters of a git generator's `files`: each file's YAML keys, plus `path` naming the
    file's folder. Argo CD lists them with `git ls-files -- <pattern>`, whose `*` may cross a `/`:
    fnmatch's `*` does too."""
    chosen: set[str] = set()
    for entry in generator["files"]:
        # Only the folder before the first wildcard can hold a match.
        parts = PurePosixPath(entry["path"]).parts
        wildcard = next((i for i, part in enumerate(parts) if re.search(r"[*?\[]", part)), len(parts))
        base = repo.joinpath(*parts[:wildcard])
        candidates = base.rglob("*") if base.is_dir() else [base]
        tracked = {p.relative_to(repo).as_posix() for p in candidates if p.is_file()}
        matching = {path for path in tracked if fnmatch.fnmatchcase(path, entry["path"])}
        chosen = chosen - matching if entry.get("exclude") else chosen | matching
    params = []
    for relative in sorted(chosen):
        content = yaml.safe_load((repo / relative).read_text(encoding="utf-8"))
        items = content if isinstance(content, list) else [content or {}]
        posix = PurePosixPath(relative)
        for item in items:
            if not isinstance(item, dict):
                raise ArgoError(f"{relative}: a git files generator needs a YAML mapping (or a list of them)")
            merged = {**item, **_path_params(str(posix.parent), generator, posix.name)}
            params.append(_with_values(merged, generator))
    return params


def _merge_missing(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """mergo.Merge without override, as the matrix generator combines its children's parameters:
    what the first child set stays, maps merge."""
    merged = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if key not in merged:
            merged[key] = copy.deepcopy(value)
        elif isinstance(merged[key], dict) and isinstance(value, Mapping):
            merged[key] = _merge_missing(merged[key], value)
    return merged


def generator_params(repo: Path, generator: Mapping[str, Any]) -> list[dict[str, Any]]:
    if set(generator) == {"git"}:
        git = generator["git"]
        unknown = sorted(set(git) - {"repoURL", "revision", "directories", "files", "values", "pathParamPrefix"})
        if unknown:
            raise ArgoError(f"git generator fields not evaluated here: {unknown}")
        if ("directories" in git) == ("files" in git):
            raise ArgoError("a git generator has either directories or files")
        return git_directories(repo, git) if "directories" in git else git_files(repo, git)
    if set(generator) == {"matrix"}:
        children = generator["matrix"]["generators"]
        if set(generator["matrix"]) != {"generators"} or len(children) != 2:
            raise ArgoError("only a matrix of two generators (no template, no selector) is evaluated here")
        combined = []
        for first in generator_params(repo, children[0]):
            # The second child is interpolated with each of the first child's parameter sets.
            for second in generator_params(repo, render_template(copy.deepcopy(children[1]), first)):
                combined.append(_merge_missing(first, second))
        return combined
    raise ArgoError(f"generator not evaluated here: {sorted(generator)}")


def generate(repo: Path, application_set: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Applications an ApplicationSet makes from the repository as it is on disk."""
    spec = application_set["spec"]
    if not spec.get("goTemplate"):
        raise ArgoError("only goTemplate ApplicationSets are evaluated here")
    if "templatePatch" in spec:
        raise ArgoError("templatePatch is not evaluated here")
    applications = []
    for generator in spec["generators"]:
        for params in generator_params(repo, generator):
            template = render_template(copy.deepcopy(spec["template"]), params)
            applications.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **template})
    names = [a["metadata"]["name"] for a in applications]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        # The controller refuses to reconcile an ApplicationSet that makes two of one name.
        raise ArgoError(f"{application_set['metadata']['name']}: duplicate Applications {duplicates}")
    return applications


# ---------------------------------------------------------------------------------------------
# Root Applications, projects and generated Applications


@dataclass
class Cluster:
    """What one cluster's root Application installs."""

    name: str
    objects: list[dict[str, Any]] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def project(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.of_kind("AppProject") if p["metadata"]["name"] == name), None)


def sources(application: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = application["spec"]
    return list(spec.get("sources") or [spec["source"]])


def _value_file_path(repo: Path, source: Mapping[str, Any], value_file: str) -> Path:
    if value_file.startswith("$values/"):
        return repo / value_file.removeprefix("$values/")
    return repo / str(source["path"]) / value_file


def source_values(repo: Path, application: Mapping[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    """A Helm source's values: its value files in order (missing ones refused unless
    ignoreMissingValueFiles), then valuesObject."""
    helm = source.get("helm") or {}
    files = [_value_file_path(repo, source, f) for f in helm.get("valueFiles", [])]
    missing = [f for f in files if not f.is_file()]
    if missing and not helm.get("ignoreMissingValueFiles"):
        raise ArgoError(f"{application['metadata']['name']}: missing value files {missing}")
    return merge_values(load_values([f for f in files if f.is_file()]), helm.get("valuesObject") or {})


def render_chart(
    repo: Path, chart_path: str, values: Mapping[str, Any], *, release: str, namespace: str
) -> list[Manifest]:
    """A chart of this repository outside charts/ (no dependencies), as `helm template` renders it."""
    chart = helm_python.Chart.load(repo / chart_path)
    try:
        templates = chart.render(dict(values), name=release, namespace=namespace)
    except helm_python.HelmError as exc:
        raise RenderError(f"{chart_path}: {exc}") from None
    finally:
        chart.close()
    return [
        manifest
        for template, text in sorted(templates.items())
        if not template.endswith("NOTES.txt")
        for manifest in split_documents(release, template, text)
    ]


def bootstrap(repo: Path, cluster: str) -> tuple[list[dict[str, Any]], Cluster]:
    """The bootstrap file's objects, and what its root Application installs from each source."""
    documents = load_yaml_documents(repo / ARGOCD_DIR / "bootstrap" / f"{cluster}.yaml")
    roots = [d for d in documents if d.get("kind") == "Application"]
    if len(roots) != 1:
        raise ArgoError(f"argocd/bootstrap/{cluster}.yaml: want one root Application, found {len(roots)}")
    root = roots[0]
    installed = Cluster(cluster)
    for source in sources(root):
        if "helm" in source:
            release = source["helm"].get("releaseName") or root["metadata"]["name"]
            manifests = render_chart(
                repo,
                source["path"],
                source_values(repo, root, source),
                release=release,
                namespace=root["spec"]["destination"]["namespace"],
            )
            installed.objects.extend(m.body for m in manifests)
        else:
            for path in directory_source_files(repo, source):
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
    for source in sources(application):
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


def render_application(repo: Path, charts: ChartSet, application: Mapping[str, Any]) -> list[Manifest]:
    """Render every Helm source of a generated Application from this repository, as Argo CD would."""
    name = application["metadata"]["name"]
    namespace = application["spec"]["destination"]["namespace"]
    manifests: list[Manifest] = []
    for source in sources(application):
        if "path" not in source:
            continue  # a `ref` source only lends its files
        values = source_values(repo, application, source)
        release = (source.get("helm") or {}).get("releaseName") or name
        path = PurePosixPath(source["path"])
        if path.parts[0] == "charts":
            rendered = charts.render(path.name, values, release=release, environment=name, namespace=namespace)
            manifests += rendered.manifests
        else:
            manifests += render_chart(repo, str(path), values, release=release, namespace=namespace)
    return manifests
