"""Render an environment's manifests with Helm's own engine: what Argo CD will apply.

Each folder environments/<env>/<name>/ is one Helm release named <name>, found the way the
ApplicationSets find them (argocd/clusters/<env>/applicationset.yaml):
- a folder with an image.yaml is a service, released with charts/service and the value files
  charts/service/services/<name>.yaml (the service's defaults), values.yaml, image.yaml;
- a folder named after a chart of its own (charts/postgresql, charts/redis) is a data store,
  released with that chart and its values.yaml.
Rendering layers the files over the chart's defaults as `helm template <name> <chart> -f ...` would,
through helm-python-sdk (Helm v4's Go engine as a library), so no helm binary is needed; the
chart's values.schema.json is enforced on the way.

The charts are copied to a scratch folder before `helm dependency build` fills their charts/ with
the library chart, so rendering never writes into the checkout and always uses the library as it
is on disk, as Argo CD's own dependency build does.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import helm_python
import yaml

NAMESPACE = "shopfloor"
LIBRARY_CHART = "shopfloor-lib"
SERVICE_CHART = "service"
# Under charts/service: one file of defaults per service, layered before the environment's files.
SERVICE_DEFAULTS = "services"
VALUES_FILE = "values.yaml"
IMAGE_FILE = "image.yaml"

# Helm's own install order (pkg/release/v1/util/kind_sorter.go), so the rendered file reads like
# what Helm applies: policies and identities, configuration, storage, workloads, then routing.
KIND_ORDER = (
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
)

_DOCUMENT_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


class RenderError(Exception):
    """A chart refused its values or failed to render; the message names the chart and environment."""


@dataclass(frozen=True)
class Manifest:
    """One rendered Kubernetes object, with the template text it came from (comments kept)."""

    release: str
    source: str
    text: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.body.get("metadata", {}).get("name", ""))

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.body.get("metadata", {}).get("annotations") or {})

    @property
    def hooks(self) -> tuple[str, ...]:
        """Helm hooks (pre-install, pre-upgrade...) when the object is one; Argo CD maps them to its own."""
        value = self.annotations.get("helm.sh/hook", "")
        return tuple(hook.strip() for hook in value.split(",") if hook.strip())

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Release:
    """One folder environments/<env>/<name>/: the Helm release <name> of one chart, with its value
    files in the order Helm layers them (`-f` after `-f`)."""

    environment: str
    name: str
    chart: str
    values_files: tuple[Path, ...]

    @property
    def is_service(self) -> bool:
        return self.chart == SERVICE_CHART


@dataclass
class RenderedRelease:
    release: str
    chart: str
    values: dict[str, Any]
    manifests: list[Manifest]
    notes: str = ""


@dataclass
class RenderedEnvironment:
    environment: str
    namespace: str
    releases: dict[str, RenderedRelease] = field(default_factory=dict)

    @property
    def manifests(self) -> list[Manifest]:
        return [manifest for release in self.releases.values() for manifest in release.manifests]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [manifest for manifest in self.manifests if manifest.kind == kind]

    def find(self, kind: str, name: str) -> Manifest | None:
        return next((m for m in self.manifests if m.kind == kind and m.name == name), None)

    def to_yaml(self) -> str:
        """One YAML stream a reviewer reads top to bottom: release by release, in deploy order."""
        releases = ", ".join(f"{r.release} (charts/{r.chart})" for r in self.releases.values())
        lines = [
            f"# Shopfloor manifests for the environment {self.environment!r}, namespace {self.namespace!r}.",
            "# Generated by `shopfloor render` (make render) with Helm's engine: do not edit.",
            f"# Releases: {releases}.",
        ]
        for rendered in self.releases.values():
            for manifest in rendered.manifests:
                hook = f" (Helm hook {','.join(manifest.hooks)})" if manifest.hooks else ""
                lines += ["---", f"# Source: charts/{manifest.source} -- {manifest.ref}{hook}"]
                lines.append(manifest.text)
        return "\n".join(lines) + "\n"


def environments(repo: Path) -> list[str]:
    return sorted(path.name for path in (repo / "environments").iterdir() if path.is_dir())


def _chart_type(chart_dir: Path) -> str:
    metadata = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8")) or {}
    return str(metadata.get("type", "application"))


def data_charts(repo: Path) -> list[str]:
    """The charts released under their own name (postgresql, redis): every application chart but
    charts/service (the library chart only lends templates)."""
    return sorted(
        path.parent.name
        for path in (repo / "charts").glob("*/Chart.yaml")
        if path.parent.name != SERVICE_CHART and _chart_type(path.parent) == "application"
    )


def service_defaults(repo: Path, name: str) -> Path:
    return repo / "charts" / SERVICE_CHART / SERVICE_DEFAULTS / f"{name}.yaml"


def _release(repo: Path, environment: str, folder: Path, own_charts: Sequence[str]) -> Release:
    name, where = folder.name, f"environments/{environment}/{folder.name}"
    own_chart = name in own_charts
    values = [folder / VALUES_FILE] if (folder / VALUES_FILE).is_file() else []
    if (folder / IMAGE_FILE).is_file():
        if own_chart:
            raise RenderError(
                f"{where}: has {IMAGE_FILE} (a service, released with charts/{SERVICE_CHART}) and charts/{name} "
                "exists too: a folder is one or the other"
            )
        defaults = service_defaults(repo, name)
        if not defaults.is_file():
            raise RenderError(
                f"{where} is a service ({IMAGE_FILE}) but its defaults {defaults.relative_to(repo)} are missing"
            )
        return Release(environment, name, SERVICE_CHART, (defaults, *values, folder / IMAGE_FILE))
    if own_chart:
        return Release(environment, name, name, tuple(values))
    raise RenderError(
        f"{where}: neither a service (no {IMAGE_FILE}) nor a data store (no chart charts/{name}; "
        f"there are: {', '.join(own_charts)})"
    )


def _call_depth(releases: Mapping[str, Release]) -> dict[str, int]:
    """How deep each service sits in the call graph its values declare (networkPolicy.egressTo):
    0 for one that calls no other service, else one more than the deepest service it calls."""
    calls = {
        name: {
            peer["name"]
            for peer in load_values(release.values_files).get("networkPolicy", {}).get("egressTo", [])
            if peer.get("name") in releases and peer.get("name") != name
        }
        for name, release in releases.items()
    }
    depth: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> int:
        if name not in depth:
            # A cycle adds nothing: the order only serves the reader.
            callees = [visit(c, (*path, name)) for c in sorted(calls[name]) if c not in path]
            depth[name] = 1 + max(callees) if callees else 0
        return depth[name]

    for name in sorted(calls):
        visit(name, ())
    return depth


def environment_releases(repo: Path, environment: str) -> list[Release]:
    """The releases of an environment, one per folder under environments/<env>/, in deploy order:
    the data stores, then each service after the services it calls (the order a reader meets them;
    Argo CD syncs each Application on its own)."""
    folder = repo / "environments" / environment
    if not folder.is_dir():
        known = ", ".join(environments(repo))
        raise RenderError(f"no environment {environment!r} (environments/ has: {known})")
    own_charts = data_charts(repo)
    releases = [_release(repo, environment, path, own_charts) for path in sorted(folder.iterdir()) if path.is_dir()]
    services = {r.name: r for r in releases if r.is_service}
    depth = _call_depth(services)
    return sorted(releases, key=lambda r: (r.is_service, depth.get(r.name, 0), r.name))


def release(repo: Path, environment: str, name: str) -> Release:
    found = next((r for r in environment_releases(repo, environment) if r.name == name), None)
    if found is None:
        raise RenderError(f"environments/{environment} has no release {name!r}")
    return found


def values_files(repo: Path, environment: str, name: str) -> list[Path]:
    return list(release(repo, environment, name).values_files)


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's layering of -f files: maps merge key by key, anything else (lists too) is replaced."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_values(current, value)
        else:
            merged[key] = value
    return merged


def load_values(paths: Sequence[Path]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path in paths:
        try:
            document = helm_python.values_from_yaml(path.read_text(encoding="utf-8"))
        except helm_python.HelmValuesError as exc:
            raise RenderError(f"{path}: not a values document: {exc}") from None
        values = merge_values(values, document)
    return values


def split_documents(release: str, source: str, text: str) -> list[Manifest]:
    manifests = []
    for chunk in _DOCUMENT_SEPARATOR.split(text):
        body = yaml.safe_load(chunk)
        if body is None:
            continue
        if not isinstance(body, dict):
            raise RenderError(f"{source}: rendered a document that is not a mapping")
        manifests.append(Manifest(release=release, source=source, text=chunk.strip("\n"), body=body))
    return manifests


def _kind_position(manifest: Manifest) -> tuple[int, int]:
    kind = KIND_ORDER.index(manifest.kind) if manifest.kind in KIND_ORDER else len(KIND_ORDER)
    # Hooks run before the release's ordinary objects (pre-install), by their weight.
    weight = int(manifest.annotations.get("helm.sh/hook-weight", "0")) if manifest.hooks else 0
    return (0 if manifest.hooks else 1, weight * 1000 + kind)


class ChartSet:
    """The repo's charts, dependency-built in a scratch copy, loaded once each."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._loaded: dict[str, helm_python.Chart] = {}

    def __enter__(self) -> ChartSet:
        self._scratch = tempfile.TemporaryDirectory(prefix="shopfloor-charts-")
        shutil.copytree(
            self.repo / "charts", self.root, ignore=shutil.ignore_patterns("charts", "*.tgz", "__pycache__")
        )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for chart in self._loaded.values():
            chart.close()
        self._loaded.clear()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    @property
    def root(self) -> Path:
        if self._scratch is None:
            raise RuntimeError("ChartSet is used outside its `with` block")
        return Path(self._scratch.name) / "charts"

    def path(self, chart: str) -> Path:
        """The chart's folder in the scratch copy, its dependencies built."""
        folder = self.root / chart
        if not (folder / "Chart.yaml").is_file():
            raise RenderError(f"no chart {chart!r} under charts/")
        if (folder / "Chart.lock").is_file() and not (folder / "charts").is_dir():
            try:
                helm_python.dependency_build(folder)
            except helm_python.HelmError as exc:
                raise RenderError(f"charts/{chart}: helm dependency build failed: {exc}") from None
        return folder

    def chart(self, chart: str) -> helm_python.Chart:
        if chart not in self._loaded:
            try:
                self._loaded[chart] = helm_python.Chart.load(self.path(chart))
            except helm_python.HelmError as exc:
                raise RenderError(f"charts/{chart}: cannot load: {exc}") from None
        return self._loaded[chart]

    def render(
        self, chart: str, values: Mapping[str, Any], *, release: str, environment: str, namespace: str = NAMESPACE
    ) -> RenderedRelease:
        """Render like `helm template <release> charts/<chart> -n <namespace> -f ...`."""
        try:
            templates = self.chart(chart).render(dict(values), name=release, namespace=namespace)
        except helm_python.HelmError as exc:
            raise RenderError(f"{environment}/{release}: {exc}".rstrip()) from None
        manifests: list[Manifest] = []
        notes = ""
        for source in sorted(templates):
            if source.endswith("NOTES.txt"):
                notes = templates[source].strip()
                continue
            manifests.extend(split_documents(release, source, templates[source]))
        manifests.sort(key=_kind_position)
        return RenderedRelease(release=release, chart=chart, values=dict(values), manifests=manifests, notes=notes)

    def lint(self, chart: str, values: Mapping[str, Any], *, namespace: str = NAMESPACE) -> list[str]:
        """`helm lint --strict` findings that are warnings or errors (info is advice, not a fault)."""
        report = helm_python.lint(self.path(chart), dict(values), strict=True, namespace=namespace)
        problems = [
            f"{message.get('path', '')}: {message.get('error', '')}".strip()
            for message in report.get("messages", [])
            if int(message.get("severity", 0)) >= 2
        ]
        problems += [str(error).strip() for error in report.get("errors", []) if str(error).strip() not in problems]
        return problems


def environment_values(repo: Path, environment: str, name: str) -> dict[str, Any]:
    """The values release <name> of the environment gets, every file layered."""
    return load_values(values_files(repo, environment, name))


def render_release(
    charts: ChartSet,
    release: Release,
    *,
    overrides: Mapping[str, Any] | None = None,
    namespace: str = NAMESPACE,
) -> RenderedRelease:
    """One release with its value files; `overrides` goes on top (tests break things this way)."""
    values = load_values(release.values_files)
    if overrides:
        values = merge_values(values, overrides)
    return charts.render(
        release.chart, values, release=release.name, environment=release.environment, namespace=namespace
    )


def render_environment(
    charts: ChartSet,
    environment: str,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    namespace: str = NAMESPACE,
) -> RenderedEnvironment:
    """Every release of the environment; `overrides` adds values per release name on top."""
    rendered = RenderedEnvironment(environment=environment, namespace=namespace)
    for release in environment_releases(charts.repo, environment):
        extra = (overrides or {}).get(release.name)
        rendered.releases[release.name] = render_release(charts, release, overrides=extra, namespace=namespace)
    return rendered


def render_environments(repo: Path, names: Sequence[str]) -> Iterator[RenderedEnvironment]:
    with ChartSet(repo) as charts:
        for name in names:
            yield render_environment(charts, name)


def write_rendered(rendered: RenderedEnvironment, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{rendered.environment}.yaml"
    target.write_text(rendered.to_yaml(), encoding="utf-8")
    return target
