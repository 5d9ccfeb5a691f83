"""Rendered objects are valid Kubernetes for the versions the clusters run, in strict mode
(kubernetes-validate's schemas: an unknown or misspelt field is an error, not a silent drop)."""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate.utils as kubernetes_validate  # type: ignore[import-untyped]
import pytest
from referencing import Registry, Resource

from tests.charts.chartkit import ENVIRONMENTS, KUBERNETES_VERSIONS, Renders

# Custom resources have no schema in kubernetes-validate; each one used is named here, and checked
# against its upstream CRD elsewhere (tests/crdkit.py; tests/observability/test_cluster_objects.py).
CUSTOM_RESOURCES = {("external-secrets.io/v1", "ExternalSecret"), ("monitoring.coreos.com/v1", "ServiceMonitor")}


@functools.cache
def _validator(version: str, kind: str, api_version: str) -> jsonschema.Draft202012Validator | None:
    """kubernetes_validate.validate's schema lookup, compiled once per kind and version (it
    re-reads a large definitions file on every call, which would take the suite ten seconds)."""
    if f"{version}.0" not in kubernetes_validate.all_versions():
        raise AssertionError(f"kubernetes-validate has no schemas for {version}")
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{version}.0-local-strict"
    try:
        schema = kubernetes_validate.schema_contents(f"{folder}/{kind.lower()}-{group}.json", version)
    except FileNotFoundError:
        return None
    definitions = kubernetes_validate.schema_contents(f"{folder}/_definitions.json", version)
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validation_errors(body: dict[str, Any], version: str) -> list[str]:
    validator = _validator(version, body["kind"], body["apiVersion"])
    if validator is None:
        if (body["apiVersion"], body["kind"]) in CUSTOM_RESOURCES:
            return []
        return [
            f"{body['apiVersion']} {body['kind']}: no schema for Kubernetes {version} and not a known custom resource"
        ]
    return [
        f"{body['kind']}/{body['metadata']['name']} at {'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(body)
    ]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_rendered_objects_validate_strictly(renders: Renders, environment: str, version: str) -> None:
    problems = [p for manifest in renders(environment).manifests for p in validation_errors(manifest.body, version)]
    assert problems == []


def test_the_fast_path_agrees_with_kubernetes_validate(renders: Renders) -> None:
    """Our compiled validators answer as the library's own validate() does, for good and bad objects."""
    deployment = renders("local").find("Deployment", "catalog")
    assert deployment is not None
    broken = copy.deepcopy(deployment.body)
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/livez"
    version = KUBERNETES_VERSIONS[0]
    assert kubernetes_validate.validate(deployment.body, version, strict=True) == version
    assert validation_errors(deployment.body, version) == []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)
    assert any("paht" in problem for problem in validation_errors(broken, version))


def test_an_unknown_kind_is_not_waved_through() -> None:
    body = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": "x"}}
    assert validation_errors(body, KUBERNETES_VERSIONS[0]) != []
