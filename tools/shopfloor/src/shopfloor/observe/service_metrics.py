"""Which metrics each service exports, read from the code rather than kept in a table.

A service exports a metric when the metric is declared (prometheus_client's Counter, Gauge,
Histogram or Summary with a literal name) in its own package or in a shopfloor_common module that
its package imports, directly or through other shopfloor_common modules: prometheus_client
registers a metric when its module is imported, and every service serves the default registry on
/metrics (shopfloor_common.observability.metrics_endpoint). So the api-gateway and orders, which
import shopfloor_common.client, export the upstream and circuit-breaker metrics; catalog, which
imports shopfloor_common.cache, the cache metrics; the frontend, which calls nobody, neither.

The default registry also carries prometheus_client's own collectors (process CPU and memory,
open file descriptors, Python GC and version): `runtime_series` lists those by asking the same
collectors the services run.

The dashboards choose their per-service panels from this, and the tests check every metric name a
dashboard queries against it, so a misspelt name fails instead of drawing an empty panel.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from shopfloor.local.discovery import discover_services

LIBRARY = Path("libs") / "shopfloor-common" / "src"
LIBRARY_PACKAGE = "shopfloor_common"
Kind = Literal["counter", "gauge", "histogram", "summary"]
_METRIC_CLASSES: dict[str, Kind] = {
    "Counter": "counter",
    "Gauge": "gauge",
    "Histogram": "histogram",
    "Summary": "summary",
}


@dataclass(frozen=True)
class MetricFamily:
    """One metric as the code declares it."""

    name: str
    kind: Kind
    module: str  # the dotted module that declares it

    def series_names(self) -> frozenset[str]:
        """The names its samples carry on /metrics (prometheus_client's exposition)."""
        if self.kind == "counter":
            base = self.name.removesuffix("_total")
            return frozenset({f"{base}_total", f"{base}_created"})
        if self.kind == "histogram":
            return frozenset({f"{self.name}_bucket", f"{self.name}_count", f"{self.name}_sum", f"{self.name}_created"})
        if self.kind == "summary":
            return frozenset({self.name, f"{self.name}_count", f"{self.name}_sum", f"{self.name}_created"})
        return frozenset({self.name})


@dataclass(frozen=True)
class ServiceMetrics:
    service: str
    families: tuple[MetricFamily, ...]

    @property
    def series(self) -> frozenset[str]:
        """Every series name the service's /metrics carries: its families' and the runtime's."""
        names: set[str] = set(runtime_series())
        for family in self.families:
            names |= family.series_names()
        return frozenset(names)


@dataclass(frozen=True)
class _Module:
    families: tuple[MetricFamily, ...]
    imports: frozenset[str]  # shopfloor_common modules it imports


@cache
def runtime_series() -> frozenset[str]:
    """The series prometheus_client's default collectors (process, platform, GC) export on this
    platform: the same collectors every service's default registry carries."""
    from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

    registry = CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)
    return frozenset(sample.name for family in registry.collect() for sample in family.samples)


def _library_imports(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        if node.module == LIBRARY_PACKAGE:
            # `from shopfloor_common import cache` imports the module shopfloor_common.cache
            yield from (f"{LIBRARY_PACKAGE}.{alias.name}" for alias in node.names)
        elif node.module.startswith(LIBRARY_PACKAGE + "."):
            yield node.module
    elif isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names if alias.name.startswith(LIBRARY_PACKAGE + "."))


def _declared_metrics(node: ast.AST, module: str) -> Iterator[MetricFamily]:
    if not isinstance(node, ast.Call) or not node.args:
        return
    callee = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
    name = node.args[0]
    if callee in _METRIC_CLASSES and isinstance(name, ast.Constant) and isinstance(name.value, str):
        yield MetricFamily(name=name.value, kind=_METRIC_CLASSES[callee], module=module)


def _scan(path: Path, module: str) -> _Module:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    families: list[MetricFamily] = []
    imports: set[str] = set()
    for node in ast.walk(tree):
        families.extend(_declared_metrics(node, module))
        imports.update(_library_imports(node))
    return _Module(tuple(families), frozenset(imports))


def _modules(root: Path, package_dir: Path) -> dict[str, _Module]:
    """Every module under package_dir by dotted name (relative to root); migrations are skipped:
    they run in Alembic, not in the serving process."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(root).with_suffix("")
        if "migrations" in relative.parts:
            continue
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        modules[".".join(parts)] = _scan(path, ".".join(parts))
    return modules


def _closure(start: Iterable[str], library: dict[str, _Module]) -> set[str]:
    """The library modules reachable from `start` (an imported name may also be a package's
    submodule path or a name inside a module: take the longest known module prefix)."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        while name and name not in library:
            name = name.rpartition(".")[0]
        if not name or name in seen:
            continue
        seen.add(name)
        todo.extend(library[name].imports)
    return seen


def service_package_dirs(repo: Path, service: str) -> list[Path]:
    """The importable packages under apps/<service>/src."""
    source = repo / "apps" / service / "src"
    return sorted(p.parent for p in source.glob("*/__init__.py"))


def exported_metrics(repo: Path) -> dict[str, ServiceMetrics]:
    """Service name -> the metrics it exports, for every service under apps/."""
    library = _modules(repo / LIBRARY, repo / LIBRARY / LIBRARY_PACKAGE)
    result = {}
    for spec in discover_services(repo):
        own: dict[str, _Module] = {}
        for package in service_package_dirs(repo, spec.name):
            own.update(_modules(package.parent, package))
        reached = _closure((name for module in own.values() for name in module.imports), library)
        families = [f for module in own.values() for f in module.families]
        families += [f for name in sorted(reached) for f in library[name].families]
        result[spec.name] = ServiceMetrics(spec.name, tuple(sorted(set(families), key=lambda f: f.name)))
    return result
