"""The Chaos Mesh objects (chaos/mesh/): valid against Chaos Mesh v2.8.3's own CRDs, strictly;
one per catalogue entry that names one, with its fault's label and duration; and aimed at what
the service chart really renders in the environments each is meant for. Each check is also shown
failing on a broken copy. No cluster runs here: the objects are validated, not applied."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfloor.chaos.catalogue import read_catalogue
from shopfloor.delivery.render import RenderedEnvironment
from tests.chaos.meshkit import (
    MESH_DIR,
    REPO,
    MeshObject,
    check_against_catalogue,
    check_against_render,
    check_metadata,
    load_objects,
)
from tests.crdkit import assert_valid, crd_errors, require_crds

OBJECTS = load_objects()
CHAOS_KINDS = {
    "PodChaos",
    "NetworkChaos",
    "IOChaos",
    "StressChaos",
    "DNSChaos",
    "HTTPChaos",
    "TimeChaos",
    "Workflow",
    "Schedule",
}


def by_file(name: str) -> MeshObject:
    found = [mesh_object for mesh_object in OBJECTS if mesh_object.path.name == name]
    assert len(found) == 1, name
    return found[0]


def edited(name: str, **changes: Any) -> MeshObject:
    """A copy of chaos/mesh/<name>'s object with dotted paths (spec.mode) set to new values."""
    original = by_file(name)
    body = copy.deepcopy(original.body)
    for dotted, value in changes.items():
        node = body
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value
    return MeshObject(original.path, body)


# --- the upstream CRDs ----------------------------------------------------------------------------


def test_every_object_validates_strictly_against_chaos_mesh_crds() -> None:
    folder = require_crds()
    assert assert_valid((mesh_object.body for mesh_object in OBJECTS), folder) == len(OBJECTS)
    # Every kind the issue lists is used, and the files hold nothing else.
    assert {mesh_object.kind for mesh_object in OBJECTS} == CHAOS_KINDS


def test_a_misspelt_field_is_refused() -> None:
    folder = require_crds()
    broken = copy.deepcopy(by_file("catalog-pod-kill.yaml").body)
    broken["spec"]["durration"] = broken["spec"].pop("duration")
    assert crd_errors(broken, folder) == [
        "PodChaos catalog-pod-kill: /spec: Additional properties are not allowed ('durration' was unexpected)"
    ]


def test_a_wrong_enum_value_is_refused() -> None:
    folder = require_crds()
    broken = copy.deepcopy(by_file("db-network-delay.yaml").body)
    broken["spec"]["direction"] = "inbound"
    assert crd_errors(broken, folder) == [
        "NetworkChaos db-network-delay: /spec/direction: 'inbound' is not one of ['to', 'from', 'both']"
    ]


def test_a_workflow_tasks_container_is_checked_as_a_kubernetes_container() -> None:
    folder = require_crds()
    broken = copy.deepcopy(by_file("db-row-lock-workflow.yaml").body)
    broken["spec"]["templates"][0]["task"]["container"]["enviroment"] = []
    errors = crd_errors(broken, folder)
    assert len(errors) == 1, errors
    assert "'enviroment' was unexpected" in errors[0]


# --- against the catalogue ------------------------------------------------------------------------


def test_each_object_is_its_catalogue_entrys() -> None:
    catalogue = read_catalogue(REPO)
    assert check_against_catalogue(catalogue, OBJECTS) == []
    assert check_metadata(OBJECTS) == []
    named = {fault.cluster for fault in catalogue.faults if fault.cluster}
    assert len(named) >= 14


def test_a_duration_that_differs_from_the_catalogue_is_reported() -> None:
    catalogue = read_catalogue(REPO)
    objects = [
        edited("catalog-http-delay.yaml", **{"spec.duration": "45s"}) if o.path.name == "catalog-http-delay.yaml" else o
        for o in OBJECTS
    ]
    assert check_against_catalogue(catalogue, objects) == [
        "catalog-http-delay.yaml (HTTPChaos catalog-http-delay): holds the fault 45s, "
        "the catalogue says catalog-latency lasts 30s"
    ]


def test_a_workflow_holds_the_fault_for_the_catalogues_duration() -> None:
    catalogue = read_catalogue(REPO)
    name = "catalog-switch-hold-connections.yaml"
    objects = [edited(name, **{"spec.templates.2.deadline": "1m"}) if o.path.name == name else o for o in OBJECTS]
    assert check_against_catalogue(catalogue, objects) == [
        f"{name} (Workflow catalog-switch-hold-connections): holds the fault 60s, "
        "the catalogue says db-pool-exhaustion lasts 30s"
    ]


def test_a_wrong_label_a_stray_file_and_a_missing_object_are_reported(tmp_path: Path) -> None:
    catalogue = read_catalogue(REPO)
    objects = [
        edited("orders-time-skew.yaml", **{"metadata.labels": {"shopfloor.io/fault": "clock"}})
        if o.path.name == "orders-time-skew.yaml"
        else o
        for o in OBJECTS
    ]
    stray = MeshObject(MESH_DIR / "extra.yaml", by_file("catalog-pod-kill.yaml").body)
    objects = [o for o in objects if o.path.name != "redis-pod-failure.yaml"] + [stray]
    assert check_against_catalogue(catalogue, objects) == [
        "extra.yaml: no fault in chaos/faults.yaml names it (cluster: extra.yaml)",
        "orders-time-skew.yaml (TimeChaos orders-time-skew): label shopfloor.io/fault is not node-clock-skew",
        "redis-pod-failure.yaml: holds 0 objects; the catalogue's redis-down needs exactly one",
    ]


def test_wrong_namespace_and_unknown_environment_are_reported() -> None:
    broken = edited(
        "catalog-pod-kill.yaml",
        **{"metadata.namespace": "default", "metadata.annotations": {"shopfloor.io/environments": "local, qa"}},
    )
    assert check_metadata([broken]) == [
        "catalog-pod-kill.yaml (PodChaos catalog-pod-kill): namespace is not shopfloor",
        "catalog-pod-kill.yaml (PodChaos catalog-pod-kill): unknown environment 'qa'",
    ]


# --- against the rendered manifests ---------------------------------------------------------------


@pytest.mark.parametrize("mesh_object", OBJECTS, ids=lambda o: o.path.name)
def test_the_object_fits_every_environment_it_is_meant_for(
    mesh_object: MeshObject, rendered: dict[str, RenderedEnvironment]
) -> None:
    assert mesh_object.environments
    for environment in mesh_object.environments:
        assert check_against_render(mesh_object, rendered[environment]) == [], environment


def test_a_selector_that_matches_no_pod_is_reported(rendered: dict[str, RenderedEnvironment]) -> None:
    broken = edited(
        "catalog-pod-kill.yaml", **{"spec.selector.labelSelectors": {"app.kubernetes.io/name": "catalogue"}}
    )
    assert check_against_render(broken, rendered["local"]) == [
        "catalog-pod-kill.yaml (PodChaos catalog-pod-kill): spec.selector: selects no pod in local "
        "({'app.kubernetes.io/name': 'catalogue'})"
    ]


def test_a_volume_only_local_has_is_reported_elsewhere(rendered: dict[str, RenderedEnvironment]) -> None:
    """The image volume exists only where images are not in S3: IOChaos meant for staging fails."""
    io = by_file("catalog-image-io.yaml")
    assert check_against_render(io, rendered["local"]) == []
    assert check_against_render(io, rendered["staging"]) == [
        "catalog-image-io.yaml (IOChaos catalog-image-io): spec.volumePath: staging Deployment/catalog mounts no "
        "volume at /data/images (/tmp)"
    ]


def test_wrong_container_port_and_external_target_are_reported(rendered: dict[str, RenderedEnvironment]) -> None:
    local = rendered["local"]
    assert check_against_render(edited("catalog-http-delay.yaml", **{"spec.port": 8080}), local) == [
        "catalog-http-delay.yaml (HTTPChaos catalog-http-delay): spec.port: "
        "local Deployment/catalog listens on [8081, 9090], not 8080"
    ]
    assert check_against_render(edited("catalog-dns-error.yaml", **{"spec.containerNames": ["catalog"]}), local) == [
        "catalog-dns-error.yaml (DNSChaos catalog-dns-error): spec.containerNames: "
        "local Deployment/orders has no container 'catalog'"
    ]
    broken = edited(
        "db-network-partition.yaml", **{"spec.externalTargets": ["postgres.shopfloor.svc.cluster.local:5432"]}
    )
    assert check_against_render(broken, local) == [
        "db-network-partition.yaml (NetworkChaos db-network-partition): spec.externalTargets: "
        "postgres.shopfloor.svc.cluster.local:5432 is not a Service of local "
        "(<name>.shopfloor.svc.cluster.local:<port>)"
    ]


def test_a_memory_stress_below_the_limit_is_reported(rendered: dict[str, RenderedEnvironment]) -> None:
    broken = edited("catalog-memory-stress.yaml", **{"spec.stressors.memory.size": "256MiB"})
    assert check_against_render(broken, rendered["local"]) == [
        "catalog-memory-stress.yaml (StressChaos catalog-memory-stress): spec.stressors.memory.size: 256MiB stays "
        "under local Deployment/catalog's limit 384Mi: no OOM kill"
    ]


def test_a_task_reading_a_secret_no_pod_uses_is_reported(rendered: dict[str, RenderedEnvironment]) -> None:
    workflow = by_file("db-row-lock-workflow.yaml")
    body = copy.deepcopy(workflow.body)
    env = body["spec"]["templates"][0]["task"]["container"]["env"]
    password = next(variable for variable in env if variable["name"] == "PGPASSWORD")
    password["valueFrom"]["secretKeyRef"]["key"] = "PASSWORD"
    next(variable for variable in env if variable["name"] == "PGHOST")["value"] = "postgres"
    where = "db-row-lock-workflow.yaml (Workflow db-row-lock-workflow): templates.hold-row-lock.task"
    assert check_against_render(MeshObject(workflow.path, body), rendered["staging"]) == [
        f"{where}: PGHOST postgres is not a Service of staging",
        f"{where}: PGPASSWORD reads catalog-secrets/PASSWORD, which no pod of staging uses",
    ]


def test_the_row_lock_task_runs_the_postgresql_charts_own_psql() -> None:
    values = yaml.safe_load((REPO / "charts" / "postgresql" / "values.yaml").read_text())
    image = f"{values['image']['repository']}:{values['image']['tag']}"
    task = by_file("db-row-lock-workflow.yaml").body["spec"]["templates"][0]["task"]
    assert task["container"]["image"] == image
