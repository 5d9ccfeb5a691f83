"""The AWS FIS experiment templates (chaos/aws/*.json): each validates against the
CreateExperimentTemplate request schema, botocore's FIS model and FIS's own rules, is the one its
catalogue entry names, and holds its fault the catalogue's duration. Each check is also shown
failing on a broken copy. Nothing is sent to AWS (there is none here)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from shopfloor.chaos.catalogue import read_catalogue
from tests.chaos.fiskit import (
    EXAMPLE_VALUES,
    TEMPLATE_DIR,
    action_durations,
    botocore_errors,
    load_template,
    placeholders,
    render,
    schema_errors,
    semantic_errors,
    template_errors,
    template_files,
)
from tests.chaos.meshkit import REPO

FILES = template_files()


def template(name: str) -> dict[str, Any]:
    return load_template(TEMPLATE_DIR / name)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_the_template_is_a_valid_create_experiment_template_request(path: Any) -> None:
    assert template_errors(load_template(path)) == []


def test_the_templates_are_the_catalogues_aws_faults() -> None:
    catalogue = read_catalogue(REPO)
    aws = {fault.aws: fault for fault in catalogue.faults if fault.aws is not None}
    assert sorted(aws) == [path.name for path in FILES]
    for name, fault in aws.items():
        document = template(name)
        assert document["tags"]["shopfloor.io/fault"] == fault.id, name
        assert document["description"].startswith(f"{fault.id}: "), name
        # A template whose action holds the fault for a time holds it the catalogue's duration.
        assert all(seconds == fault.duration_seconds for seconds in action_durations(document)), name


def test_every_placeholder_is_one_the_module_fills() -> None:
    module = (REPO / "terraform" / "modules" / "chaos-fis" / "main.tf").read_text()
    for path in FILES:
        for name in placeholders(path.read_text()):
            assert name in EXAMPLE_VALUES, (path.name, name)
            assert f"    {name} " in module, f"terraform/modules/chaos-fis fills no {name}"


def test_templates_leave_nothing_environment_specific_written_out() -> None:
    for path in FILES:
        text = path.read_text()
        for value in EXAMPLE_VALUES.values():
            assert value not in text, (path.name, value)
        assert "arn:aws" not in text, path.name


def test_the_stop_conditions_are_a_choice_with_a_reason() -> None:
    for path in FILES:
        document = template(path.name)
        sources = {condition["source"] for condition in document["stopConditions"]}
        if sources == {"none"}:
            assert "No stop condition: " in document["description"], path.name
        else:
            assert sources == {"aws:cloudwatch:alarm"}, path.name


# --- each check shown failing ----------------------------------------------------------------------


def test_the_schema_refuses_an_unknown_field_a_missing_role_and_a_bad_selection_mode() -> None:
    document = template("node-termination.json")
    document["roleARN"] = document.pop("roleArn")
    document["targets"]["one-node"]["selectionMode"] = "COUNT(one)"
    assert schema_errors(document) == [
        "schema: /: Additional properties are not allowed ('roleARN' was unexpected)",
        "schema: /: 'roleArn' is a required property",
        "schema: /targets/one-node/selectionMode: 'COUNT(one)' does not match "
        "'^(ALL|COUNT\\\\([1-9][0-9]*\\\\)|PERCENT\\\\(([1-9][0-9]?|100)\\\\))$'",
    ]


def test_the_schema_refuses_a_stop_alarm_without_an_arn_and_none_with_a_value() -> None:
    document = template("az-network-disruption.json")
    document["stopConditions"] = [{"source": "aws:cloudwatch:alarm"}, {"source": "none", "value": "x" * 20}]
    errors = schema_errors(document)
    assert errors[0] == "schema: /stopConditions/0: 'value' is a required property"
    assert errors[1].startswith(
        "schema: /stopConditions/1: {'source': 'none', 'value': 'xxxxxxxxxxxxxxxxxxxx'} should not be valid"
    )
    assert len(errors) == 2


def test_botocore_refuses_what_the_cli_would() -> None:
    document = template("rds-failover.json")
    document["actions"]["failover"]["parameters"]["forceFailover"] = True
    document["actions"]["failover"]["timeout"] = "PT1M"
    assert botocore_errors(document) == [
        'botocore: Unknown parameter in actions.failover: "timeout", must be one of: actionId, description, '
        "parameters, targets, startAfter",
        "botocore: Invalid type for parameter actions.failover.parameters.forceFailover, value: True, "
        "type: <class 'bool'>, valid types: <class 'str'>",
    ]


def test_an_undocumented_action_id_is_refused() -> None:
    document = template("rds-failover.json")
    document["actions"]["failover"]["actionId"] = "aws:rds:reboot-db-instance"
    assert semantic_errors(document) == [
        "actions.failover.actionId: 'aws:rds:reboot-db-instance' is not an action AWS FIS documents",
        "targets.shop-database: no action uses this target",
    ]


def test_a_target_the_action_names_must_exist_and_fit_the_action() -> None:
    document = template("node-termination.json")
    document["actions"]["terminate"]["targets"] = {"Instances": "two-nodes"}
    assert semantic_errors(document) == [
        "actions.terminate.targets.Instances: no target named 'two-nodes' (targets: one-node)",
        "targets.one-node: no action uses this target",
    ]
    document = template("rds-failover.json")
    document["actions"]["failover"]["targets"] = {"Instances": "shop-database"}
    document["targets"]["shop-database"]["resourceType"] = "aws:ec2:instance"
    assert semantic_errors(document) == [
        "actions.failover.targets: aws:rds:reboot-db-instances takes its targets as DBInstances, not Instances",
        "actions.failover.targets.Instances: aws:rds:reboot-db-instances acts on aws:rds:db, target "
        "'shop-database' is aws:ec2:instance",
    ]


def test_an_actions_parameters_are_the_documented_ones() -> None:
    document = template("az-network-disruption.json")
    parameters = document["actions"]["disrupt-zone"]["parameters"]
    parameters["scope"] = "zone"
    parameters["durationSeconds"] = "120"
    del parameters["duration"]
    assert semantic_errors(document) == [
        "actions.disrupt-zone.parameters.durationSeconds: aws:network:disrupt-connectivity takes no such parameter",
        "actions.disrupt-zone.parameters: aws:network:disrupt-connectivity needs duration",
        "actions.disrupt-zone.parameters.scope: 'zone' is not one of all, availability-zone, dynamodb, prefix-list, s3",
    ]
    parameters.update({"duration": "2 minutes", "scope": "all"})
    del parameters["durationSeconds"]
    assert semantic_errors(document) == [
        "actions.disrupt-zone.parameters.duration: not an ISO 8601 duration like PT2M: '2 minutes'"
    ]


def test_start_after_names_another_action() -> None:
    document = template("rds-failover.json")
    document["actions"]["failover"]["startAfter"] = ["warm-up"]
    assert semantic_errors(document) == ["actions.failover.startAfter: no other action named 'warm-up'"]


def test_a_placeholder_the_module_does_not_fill_is_refused() -> None:
    text = (TEMPLATE_DIR / "rds-failover.json").read_text().replace("${db_instance_arn}", "${database_arn}")
    with pytest.raises(ValueError, match="unknown placeholders database_arn"):
        render(text)
    with pytest.raises(ValueError, match="template syntax other than"):
        render(text.replace("${database_arn}", "%{ if x }arn%{ endif }"))


def test_a_duration_that_differs_from_the_catalogue_is_caught() -> None:
    document = copy.deepcopy(template("az-network-disruption.json"))
    document["actions"]["disrupt-zone"]["parameters"]["duration"] = "PT3M"
    fault = read_catalogue(REPO).fault("az-network-disruption")
    assert action_durations(document) == [180]
    assert fault.duration_seconds == 120


def test_the_schema_cites_its_sources() -> None:
    schema = json.loads((TEMPLATE_DIR / "schema" / "create-experiment-template.schema.json").read_text())
    assert "https://docs.aws.amazon.com/fis/latest/APIReference/API_CreateExperimentTemplate.html" in schema["$comment"]
