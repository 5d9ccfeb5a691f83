"""The strict CRD check itself: it must refuse a misspelt field and a wrong enum value, or every
suite that relies on it would pass custom resources a cluster silently prunes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.crdkit import PINNED_RELEASES, UnknownKind, crd_errors, known_kinds, require_crds

SERVICE_MONITOR: dict[str, Any] = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "catalog", "labels": {"release": "kube-prometheus-stack"}},
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "catalog"}},
        "endpoints": [{"port": "http", "path": "/metrics", "scheme": "http", "interval": "15s"}],
    },
}


@pytest.fixture(scope="module", autouse=True)
def _crds() -> None:
    require_crds()


def test_every_pinned_project_contributes_kinds() -> None:
    groups = {kind.source.parent.name for kind in known_kinds()}
    assert groups >= {f"{project}-{release}" for project, release in PINNED_RELEASES.items()}


def test_a_correct_resource_passes() -> None:
    assert crd_errors(SERVICE_MONITOR) == []


def test_a_misspelt_field_is_refused() -> None:
    broken = copy.deepcopy(SERVICE_MONITOR)
    broken["spec"]["endpoints"][0]["intervall"] = broken["spec"]["endpoints"][0].pop("interval")
    errors = crd_errors(broken)
    assert any("/spec/endpoints/0" in e and "intervall" in e for e in errors), errors


def test_a_wrong_enum_value_is_refused() -> None:
    broken = copy.deepcopy(SERVICE_MONITOR)
    broken["spec"]["endpoints"][0]["scheme"] = "gopher"
    errors = crd_errors(broken)
    assert any("/spec/endpoints/0/scheme" in e and "gopher" in e for e in errors), errors


def test_an_unknown_kind_is_an_error_not_a_pass() -> None:
    with pytest.raises(UnknownKind):
        crd_errors({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitr", "metadata": {"name": "x"}})
