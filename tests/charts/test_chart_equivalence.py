"""Issue 12: charts/service, released once per service, renders every environment as the four
service charts did, but for the chart's name (tests/charts/equivalence.py says how it is proven)."""

from __future__ import annotations

import copy
import json

import pytest

from shopfloor.delivery.render import RenderedEnvironment
from tests.charts.chartkit import ENVIRONMENTS, REPO, Renders
from tests.charts.equivalence import DIGESTS, differences, expected_digests, input_digests, object_digests

RECORDED = json.loads(DIGESTS.read_text())["environments"]
REGENERATE = ".venv/bin/python -m tests.charts.equivalence --write"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_environment_renders_as_it_did_with_one_chart_per_service(renders: Renders, environment: str) -> None:
    recorded = RECORDED[environment]
    changed_inputs = differences(recorded["inputs"], input_digests(REPO, environment))
    assert not changed_inputs, (
        f"environments/{environment}/{{{','.join(changed_inputs)}}} changed since {DIGESTS.name} was written: "
        f"`{REGENERATE}` renders the old charts with them again (in a clone with history)"
    )
    expected = expected_digests(recorded["objects"], environment)
    assert differences(expected, object_digests(renders(environment))) == [], (
        "the chart renders differently: a change on purpose is recorded with "
        "`.venv/bin/python -m tests.charts.equivalence --accept 'issue N: why'`"
    )


def test_a_change_of_output_is_named_and_the_chart_label_alone_is_not_one(renders: Renders) -> None:
    recorded = expected_digests(RECORDED["dev"]["objects"], "dev")
    changed = renders.with_overrides("dev", {"catalog": {"resources": {"limits": {"cpu": "2"}}}})
    assert differences(recorded, object_digests(changed)) == ["Deployment/catalog", "Job/catalog-migrate"]

    relabelled: RenderedEnvironment = copy.deepcopy(renders("dev"))
    for manifest in relabelled.manifests:
        manifest.body["metadata"]["labels"]["helm.sh/chart"] = "anything-9.9.9"
    assert differences(recorded, object_digests(relabelled)) == []
    del relabelled.manifests[0].body["metadata"]["labels"]["app.kubernetes.io/part-of"]
    assert differences(recorded, object_digests(relabelled)) == [relabelled.manifests[0].ref]
