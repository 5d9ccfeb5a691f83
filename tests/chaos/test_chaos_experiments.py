"""The Chaos Toolkit experiments (chaos/experiments/): generated from the catalogue and current, each
valid for chaoslib (ensure_experiment_is_valid imports every provider module and checks every
function's arguments), each naming a catalogued fault; the cluster ones apply exactly the Chaos Mesh
object of chaos/mesh/ under the resource name its CRD declares. Nothing here talks to a cluster:
the cluster experiments are only validated."""

from __future__ import annotations

import copy
import functools
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaoslib.exceptions import InvalidActivity, InvalidExperiment
from chaoslib.experiment import ensure_experiment_is_valid

from shopfloor.chaos.catalogue import MESH_DIR, read_catalogue
from shopfloor.chaos.experiments import CLUSTER_DIR, EXPERIMENTS_DIR, plural, stale_files
from shopfloor.chaos.provider import ControlError, inject_fault, remove_fault
from shopfloor.observe.slos import load_slos
from tests.crdkit import _CrdLoader, _lookup, require_crds

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = read_catalogue(REPO)
LOCAL_FILES = sorted((REPO / EXPERIMENTS_DIR).glob("*.yaml"))
CLUSTER_FILES = sorted((REPO / CLUSTER_DIR).glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


def test_the_files_are_generated_from_the_catalogue_and_current() -> None:
    assert stale_files(REPO, CATALOGUE, load_slos(REPO)) == []
    assert {p.stem for p in LOCAL_FILES} == {f.id for f in CATALOGUE.faults if f.local is not None}
    assert {p.stem for p in CLUSTER_FILES} == {f.id for f in CATALOGUE.faults if f.cluster is not None}


def test_a_hand_edit_or_a_stray_file_is_reported(tmp_path: Path) -> None:
    copy_root = tmp_path / "repo"
    for relative in (EXPERIMENTS_DIR, MESH_DIR):
        target = copy_root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(REPO / relative, target)
    edited = copy_root / EXPERIMENTS_DIR / "catalog-kill.yaml"
    edited.write_text(edited.read_text(encoding="utf-8").replace("hold_seconds: 20", "hold_seconds: 2"))
    (copy_root / EXPERIMENTS_DIR / "no-such-fault.yaml").write_text("version: 1.0.0\n")
    (copy_root / CLUSTER_DIR / "redis-down.yaml").unlink()
    assert stale_files(copy_root, CATALOGUE, load_slos(REPO)) == [
        "chaos/experiments/catalog-kill.yaml: out of date",
        "chaos/experiments/cluster/redis-down.yaml: missing",
        "chaos/experiments/no-such-fault.yaml: no fault of the catalogue has it",
    ]


@pytest.mark.parametrize("path", LOCAL_FILES + CLUSTER_FILES, ids=lambda p: str(p.relative_to(REPO / EXPERIMENTS_DIR)))
def test_every_experiment_is_valid_for_chaoslib_and_names_a_catalogued_fault(path: Path) -> None:
    experiment = load(path)
    ensure_experiment_is_valid(experiment)
    fault = CATALOGUE.fault(path.stem)
    assert experiment["title"].startswith(f"{fault.id}")
    assert experiment["runtime"] == {"rollbacks": {"strategy": "always"}}
    assert experiment["configuration"]["hold_seconds"] == fault.duration_seconds
    probes = experiment["steady-state-hypothesis"]["probes"]
    queries = [p["provider"]["arguments"]["query"] for p in probes if p["provider"]["type"] == "python"]
    # One Prometheus probe per SLO of observability/slos.yaml (two per journey), and the HTTP probe.
    assert len(queries) == 2 * len(load_slos(REPO).journeys)
    assert all(p["provider"]["module"] == "chaosprometheus.probes" for p in probes if p["provider"]["type"] == "python")
    assert [p["provider"]["type"] for p in probes].count("http") == 1
    windows = ("1m", "5s") if "cluster" not in experiment["tags"] else ("1h", "5m")
    assert all(f"ratio_rate{windows[0]}" in query and f"ratio_rate{windows[1]}" in query for query in queries)
    (action,) = experiment["method"]
    assert action["pauses"] == {"after": "${hold_seconds}"}
    (rollback,) = experiment["rollbacks"]
    if "cluster" in experiment["tags"]:
        assert action["provider"]["module"] == rollback["provider"]["module"] == "chaosk8s.crd.actions"
    else:
        assert action["provider"]["arguments"] == rollback["provider"]["arguments"] == {"fault": fault.id}
        assert (action["provider"]["func"], rollback["provider"]["func"]) == ("inject_fault", "remove_fault")


@functools.cache
def _crd_plural(api_version: str, kind: str) -> str:
    folder = require_crds()
    entry = _lookup(api_version, kind, folder)
    assert entry is not None, f"no CRD for {api_version} {kind}"
    for crd in yaml.load_all(entry[0].source.read_text(encoding="utf-8"), Loader=_CrdLoader):
        names = crd.get("spec", {}).get("names", {}) if isinstance(crd, dict) else {}
        if crd.get("kind") == "CustomResourceDefinition" and names.get("kind") == kind:
            return str(names["plural"])
    raise AssertionError(f"{kind} not in {entry[0].source}")


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.stem)
def test_a_cluster_experiment_applies_the_mesh_object_under_its_crds_plural(path: Path) -> None:
    experiment = load(path)
    fault = CATALOGUE.fault(path.stem)
    mesh_object = load(REPO / MESH_DIR / str(fault.cluster))
    arguments = experiment["method"][0]["provider"]["arguments"]
    assert arguments["resource"] == mesh_object
    group, version = mesh_object["apiVersion"].split("/")
    assert (arguments["group"], arguments["version"], arguments["ns"]) == (
        group,
        version,
        mesh_object["metadata"]["namespace"],
    )
    assert arguments["plural"] == _crd_plural(mesh_object["apiVersion"], mesh_object["kind"])
    assert experiment["rollbacks"][0]["provider"]["arguments"]["name"] == mesh_object["metadata"]["name"]


def test_plural_follows_chaos_mesh_naming() -> None:
    assert (plural("PodChaos"), plural("NetworkChaos"), plural("Workflow"), plural("Schedule")) == (
        "podchaos",
        "networkchaos",
        "workflows",
        "schedules",
    )


def test_a_broken_experiment_is_refused() -> None:
    experiment = load(LOCAL_FILES[0])
    unknown_function = copy.deepcopy(experiment)
    unknown_function["method"][0]["provider"]["func"] = "inject_faults"
    with pytest.raises(InvalidActivity, match="inject_faults"):
        ensure_experiment_is_valid(unknown_function)
    wrong_argument = copy.deepcopy(experiment)
    wrong_argument["rollbacks"][0]["provider"]["arguments"] = {"fault_id": "catalog-kill"}
    with pytest.raises(InvalidActivity, match=r"required argument .fault. is missing"):
        ensure_experiment_is_valid(wrong_argument)
    no_method = copy.deepcopy(experiment)
    del no_method["method"]
    with pytest.raises(InvalidExperiment, match="method"):
        ensure_experiment_is_valid(no_method)


def test_the_provider_acts_only_through_a_loopback_session() -> None:
    with pytest.raises(ControlError, match="shopfloor chaos run catalog-kill"):
        inject_fault("catalog-kill", configuration={"shopfloor_control_url": ""})
    with pytest.raises(ControlError, match="no loopback"):
        inject_fault("catalog-kill", configuration={"shopfloor_control_url": "http://10.0.0.1:8099"})


async def test_the_provider_reaches_the_session_only_with_its_token(tmp_path: Path) -> None:
    """The provider and the session's control endpoint for real, on loopback: a wrong token is
    refused (401); with the token, a fault the session cannot apply is refused naming why (409)."""
    import asyncio

    from shopfloor.chaos.inject import ChaosTarget
    from shopfloor.chaos.runner import ChaosSession, ControlServer
    from shopfloor.local.stack import LocalStack, StackOptions

    stack = LocalStack(StackOptions(repo=REPO, state_dir=tmp_path))  # not started: no service runs
    control = ControlServer(ChaosSession(ChaosTarget(stack), CATALOGUE))
    await control.start()
    try:
        wrong = {"shopfloor_control_url": control.url, "shopfloor_control_token": "not-the-token"}
        with pytest.raises(ControlError, match="answered 401"):
            await asyncio.to_thread(inject_fault, "catalog-kill", wrong)
        right = {"shopfloor_control_url": control.url, "shopfloor_control_token": control.token}
        with pytest.raises(ControlError, match=r"answered 409.*no fault 'no-such-fault'"):
            await asyncio.to_thread(inject_fault, "no-such-fault", right)
        with pytest.raises(ControlError, match=r"answered 409.*the stack runs no service named 'catalog'"):
            await asyncio.to_thread(inject_fault, "catalog-kill", right)
        removed = await asyncio.to_thread(remove_fault, "catalog-kill", right)  # never injected: nothing to do
        assert (removed["fault"], removed["action"]) == ("catalog-kill", "remove")
        assert removed["at"].startswith("20")
    finally:
        await control.stop()
