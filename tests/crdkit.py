"""Custom resources checked strictly against the upstream CRDs that define them.

The API server prunes unknown fields silently, so a misspelt field in an Application, a
ServiceMonitor or a PodChaos would be dropped without a word in a cluster. Here every custom
resource is validated against its kind's `openAPIV3Schema` from the upstream CRD files, closed:
each object schema that lists `properties` and neither `additionalProperties` nor
`x-kubernetes-preserve-unknown-fields: true` gets `additionalProperties: false`.

The CRDs are not part of this repository (they are upstream data, pinned by release):
CRD_SCHEMAS_DIR names their folder, by default `../shared/schemas/crds` beside the checkout,
one sub-folder per project and release (`argo-cd-v3.4.4/`, `prometheus-operator-v0.93.1/`, ...).
Without it a test is skipped with a message saying how to provide it, except under CI=true.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CRD_DIR = REPO.parent / "shared" / "schemas" / "crds"
IN_CI = os.environ.get("CI", "").lower() == "true"

# The upstream release each project's CRDs must come from: the releases the add-ons pin.
PINNED_RELEASES = {
    "argo-cd": "v3.4.4",
    "prometheus-operator": "v0.93.1",
    "chaos-mesh": "v2.8.3",
    "external-secrets": "v2.9.0",
    "cert-manager": "v1.21.1",
    "k6-operator": "v1.6.0",
}
PROVIDE_HINT = (
    "Point CRD_SCHEMAS_DIR at a folder holding the upstream CRDs, one sub-folder per project and release "
    "(e.g. prometheus-operator-v0.93.1/crd-servicemonitors.yaml); on these machines it is ../shared/schemas/crds."
)


class UnknownKind(LookupError):
    """No CRD in the folder defines this apiVersion and kind."""


def crd_dir() -> Path:
    return Path(os.environ.get("CRD_SCHEMAS_DIR", str(DEFAULT_CRD_DIR)))


def require_crds() -> Path:
    """The CRD folder; skips (fails under CI=true) when it is missing."""
    folder = crd_dir()
    missing = [
        f"{project}-{release}"
        for project, release in PINNED_RELEASES.items()
        if not (folder / f"{project}-{release}").is_dir()
    ]
    if missing:
        message = f"upstream CRDs not found in {folder} (missing: {', '.join(missing)}). {PROVIDE_HINT}"
        if IN_CI:
            pytest.fail(message + " (CI=true: failing instead of skipping)")
        pytest.skip(message)
    return folder


def close_schema(schema: Any) -> Any:
    """A copy of `schema` in which every object that lists its properties refuses others."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields", False)
            ):
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    source: Path  # the CRD file

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


class _CrdLoader(yaml.CSafeLoader):
    """libyaml's loader (the CRDs are ~9 MB of YAML) that also reads the `=` value tag some
    CRDs use in their enums as the plain string "="."""


def _value_tag(loader: yaml.CSafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_CrdLoader.add_constructor("tag:yaml.org,2002:value", _value_tag)
_KIND_LINE = re.compile(r"^\s+kind: (\w+)\s*$", re.MULTILINE)


@functools.cache
def _crd_files(folder: Path) -> dict[str, list[Path]]:
    """kind name -> the CRD files that may define it, found by text, so only those are parsed."""
    files: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*.y*ml")):
        for kind in set(_KIND_LINE.findall(path.read_text(encoding="utf-8"))):
            files.setdefault(kind, []).append(path)
    return files


@functools.cache
def _file_schemas(path: Path) -> dict[tuple[str, str], tuple[Kind, dict[str, Any]]]:
    """(apiVersion, kind) -> (the kind, its closed schema) for every CRD version in one file."""
    found: dict[tuple[str, str], tuple[Kind, dict[str, Any]]] = {}
    for crd in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_CrdLoader):
        if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        for version in spec["versions"]:
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if schema is None:
                continue
            kind = Kind(spec["group"], version["name"], spec["names"]["kind"], path)
            closed = close_schema(schema)
            # Any metadata: the API server checks it itself, and the CRDs leave it open anyway.
            closed.setdefault("properties", {})["metadata"] = {"type": "object"}
            found[(kind.api_version, kind.kind)] = (kind, closed)
    return found


def _lookup(api_version: str, kind: str, folder: Path) -> tuple[Kind, dict[str, Any]] | None:
    for path in _crd_files(folder).get(kind, []):
        entry = _file_schemas(path).get((api_version, kind))
        if entry is not None:
            return entry
    return None


def known_kinds(folder: Path | None = None) -> list[Kind]:
    """Every kind and version the folder's CRDs define (parses them all: for overviews, not per test)."""
    paths = {path for paths in _crd_files(folder or crd_dir()).values() for path in paths}
    kinds = {kind for path in paths for kind, _ in _file_schemas(path).values()}
    return sorted(kinds, key=lambda k: (k.group, k.kind, k.version))


def is_custom(document: Mapping[str, Any], folder: Path | None = None) -> bool:
    """Whether a CRD in the folder defines this document's apiVersion and kind."""
    return _lookup(str(document.get("apiVersion")), str(document.get("kind")), folder or crd_dir()) is not None


def crd_errors(document: Mapping[str, Any], folder: Path | None = None) -> list[str]:
    """Every way `document` breaks its CRD's closed schema, each as `<path>: <message>`.
    Raises UnknownKind when no CRD in the folder defines its apiVersion and kind."""
    key = (str(document.get("apiVersion")), str(document.get("kind")))
    entry = _lookup(*key, folder or crd_dir())
    if entry is None:
        raise UnknownKind(f"no CRD in {folder or crd_dir()} defines apiVersion {key[0]} kind {key[1]}")
    _, schema = entry
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(dict(document)), key=lambda e: list(e.absolute_path))
    name = document.get("metadata", {}).get("name", "?")
    return [f"{key[1]} {name}: /{'/'.join(str(p) for p in error.absolute_path)}: {error.message}" for error in errors]


def assert_valid(documents: Iterable[Mapping[str, Any]], folder: Path | None = None) -> int:
    """Validate every document strictly; returns how many were checked. Fails listing every error."""
    problems: list[str] = []
    count = 0
    for document in documents:
        problems += crd_errors(document, folder)
        count += 1
    assert not problems, "custom resources that break their upstream CRD:\n" + "\n".join(problems)
    return count
