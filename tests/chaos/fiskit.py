"""AWS FIS experiment templates (chaos/aws/*.json), rendered and checked the way AWS would.

A template is the body of `aws fis create-experiment-template --cli-input-json`, with `${name}`
placeholders for what differs per environment (the role, the cluster, the database, the zone,
the stop alarm). terraform/modules/chaos-fis fills them with templatefile(); a person running
the CLI fills them with envsubst. Here they are filled with EXAMPLE_VALUES, then the request is
checked three ways:

1. the JSON Schema of the CreateExperimentTemplate request written from the API reference
   (chaos/aws/schema/create-experiment-template.schema.json, sources in its $comment);
2. botocore's parameter validator against its own FIS service model: what the AWS CLI and SDKs
   refuse before sending anything;
3. what neither schema can say: every actionId is one AWS documents, an action's target key and
   the resource type of the target it names fit the action, every target an action names exists
   and every target is used, startAfter names actions of the template, an action's parameters
   are the ones AWS documents for it, and durations are ISO 8601.

There is no AWS here: nothing is sent; the templates are validated, not run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from botocore.session import get_session
from botocore.validate import ParamValidator

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = REPO / "chaos" / "aws"
SCHEMA_FILE = TEMPLATE_DIR / "schema" / "create-experiment-template.schema.json"

# What the placeholders stand for, as the module fills them in (terraform/modules/chaos-fis);
# 111122223333 is the example account the repository's values use.
EXAMPLE_VALUES = {
    "role_arn": "arn:aws:iam::111122223333:role/shopfloor-staging-chaos-fis",
    "cluster_name": "shopfloor-staging",
    "db_instance_arn": "arn:aws:rds:eu-west-1:111122223333:db:shopfloor-staging",
    "vpc_id": "vpc-0a1b2c3d4e5f60718",
    "availability_zone": "eu-west-1a",
    "stop_alarm_arn": "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:shopfloor-staging-chaos-stop",
}
_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")
# Terraform's templatefile() reads ${...} and %{...}; only plain ${name} is allowed in a template.
_TEMPLATE_SYNTAX = re.compile(r"[$%]\{")

# Every action id the FIS actions reference documents
# (https://docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html; `aws fis
# list-actions` lists the ones of a region). A new action joins here when a template needs it.
DOCUMENTED_ACTIONS = frozenset(
    {
        "aws:arc:start-zonal-autoshift",
        "aws:cloudwatch:assert-alarm-state",
        "aws:directconnect:virtual-interface-disconnect",
        "aws:dynamodb:global-table-pause-replication",
        "aws:ebs:pause-volume-io",
        "aws:ec2:api-insufficient-instance-capacity-error",
        "aws:ec2:asg-insufficient-instance-capacity-error",
        "aws:ec2:reboot-instances",
        "aws:ec2:send-spot-instance-interruptions",
        "aws:ec2:stop-instances",
        "aws:ec2:terminate-instances",
        "aws:ecs:drain-container-instances",
        "aws:ecs:stop-task",
        "aws:ecs:task-cpu-stress",
        "aws:ecs:task-io-stress",
        "aws:ecs:task-kill-process",
        "aws:ecs:task-network-blackhole-port",
        "aws:ecs:task-network-latency",
        "aws:ecs:task-network-packet-loss",
        "aws:eks:inject-kubernetes-custom-resource",
        "aws:eks:pod-cpu-stress",
        "aws:eks:pod-delete",
        "aws:eks:pod-io-stress",
        "aws:eks:pod-memory-stress",
        "aws:eks:pod-network-blackhole-port",
        "aws:eks:pod-network-latency",
        "aws:eks:pod-network-packet-loss",
        "aws:eks:terminate-nodegroup-instances",
        "aws:elasticache:interrupt-cluster-az-power",
        "aws:elasticache:replicationgroup-interrupt-az-power",
        "aws:fis:inject-api-internal-error",
        "aws:fis:inject-api-throttle-error",
        "aws:fis:inject-api-unavailable-error",
        "aws:fis:wait",
        "aws:lambda:invocation-add-delay",
        "aws:lambda:invocation-error",
        "aws:lambda:invocation-http-integration-response",
        "aws:network:disrupt-connectivity",
        "aws:network:route-table-disrupt-cross-region-connectivity",
        "aws:network:transit-gateway-disrupt-cross-region-connectivity",
        "aws:rds:failover-db-cluster",
        "aws:rds:reboot-db-instances",
        "aws:s3:bucket-pause-replication",
        "aws:ssm:send-command",
        "aws:ssm:start-automation-execution",
    }
)


@dataclass(frozen=True)
class ActionSpec:
    """What the actions reference says about one action: its target key and resource type, and
    its parameters (required ones, and the allowed values of those that have a fixed set)."""

    target_key: str
    resource_type: str
    parameters: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    choices: Mapping[str, frozenset[str]] | None = None


# The actions the templates use, from the same reference.
ACTION_SPECS = {
    "aws:rds:reboot-db-instances": ActionSpec(
        "DBInstances",
        "aws:rds:db",
        parameters=frozenset({"forceFailover"}),
        choices={"forceFailover": frozenset({"true", "false"})},
    ),
    "aws:ec2:terminate-instances": ActionSpec("Instances", "aws:ec2:instance"),
    "aws:network:disrupt-connectivity": ActionSpec(
        "Subnets",
        "aws:ec2:subnet",
        parameters=frozenset({"duration", "scope", "prefixListIdentifier"}),
        required=frozenset({"duration"}),
        choices={"scope": frozenset({"all", "availability-zone", "dynamodb", "prefix-list", "s3"})},
    ),
}
# FIS durations: ISO 8601 without years or months (PT2M, PT90S, PT1H30M).
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def iso_duration_seconds(text: object) -> int:
    match = _ISO_DURATION.match(text) if isinstance(text, str) else None
    # P and PT alone, or a T with nothing after it, match the pattern but say nothing.
    if match is None or not any(match.groups()) or str(text).endswith("T"):
        raise ValueError(f"not an ISO 8601 duration like PT2M: {text!r}")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def render(text: str, values: Mapping[str, str] = EXAMPLE_VALUES) -> str:
    """The template with its ${name} placeholders filled in, as templatefile() and envsubst do;
    ValueError naming anything else that looks like template syntax or an unknown name."""
    unknown = sorted(placeholders(text) - set(values))
    if unknown:
        raise ValueError(f"unknown placeholders {', '.join(unknown)} (known: {', '.join(sorted(values))})")
    rendered = _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)
    if _TEMPLATE_SYNTAX.search(rendered):
        raise ValueError("template syntax other than ${name} placeholders (templatefile would read it)")
    return rendered


def template_files() -> list[Path]:
    return sorted(TEMPLATE_DIR.glob("*.json"))


def load_template(path: Path, values: Mapping[str, str] = EXAMPLE_VALUES) -> dict[str, Any]:
    document = json.loads(render(path.read_text(encoding="utf-8"), values))
    if not isinstance(document, dict):
        raise ValueError(f"{path.name}: not a JSON object")
    return document


def schema_errors(document: Mapping[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(document)), key=lambda error: list(error.absolute_path))
    return [f"schema: /{'/'.join(str(part) for part in error.absolute_path)}: {error.message}" for error in errors]


def botocore_errors(document: Mapping[str, Any]) -> list[str]:
    """botocore's verdict on the request (the CLI fills clientToken in; so does this)."""
    shape = get_session().get_service_model("fis").operation_model("CreateExperimentTemplate").input_shape
    assert shape is not None, "botocore's FIS model has no CreateExperimentTemplate input"
    report = ParamValidator().validate({"clientToken": "shopfloor-validation", **document}, shape)
    if not report.has_errors():
        return []
    return [f"botocore: {line.strip()}" for line in report.generate_report().splitlines() if line.strip()]


def semantic_errors(document: Mapping[str, Any]) -> list[str]:
    problems = []
    targets: Mapping[str, Any] = document.get("targets") or {}
    actions: Mapping[str, Any] = document.get("actions") or {}
    used: set[str] = set()
    for name, action in actions.items():
        where = f"actions.{name}"
        if not isinstance(action, Mapping):
            continue  # the schema reports it
        action_id = action.get("actionId")
        if action_id not in DOCUMENTED_ACTIONS:
            problems.append(f"{where}.actionId: {action_id!r} is not an action AWS FIS documents")
            continue
        spec = ACTION_SPECS.get(action_id)
        for key, target_name in (action.get("targets") or {}).items():
            used.add(target_name)
            if target_name not in targets:
                problems.append(
                    f"{where}.targets.{key}: no target named {target_name!r} (targets: {', '.join(targets)})"
                )
                continue
            if spec is None:
                continue
            if key != spec.target_key:
                problems.append(f"{where}.targets: {action_id} takes its targets as {spec.target_key}, not {key}")
            resource_type = targets[target_name].get("resourceType")
            if resource_type != spec.resource_type:
                problems.append(
                    f"{where}.targets.{key}: {action_id} acts on {spec.resource_type}, "
                    f"target {target_name!r} is {resource_type}"
                )
        if spec is not None:
            if not action.get("targets"):
                problems.append(f"{where}.targets: {action_id} needs a target ({spec.target_key})")
            parameters = action.get("parameters") or {}
            for parameter in sorted(set(parameters) - spec.parameters):
                problems.append(f"{where}.parameters.{parameter}: {action_id} takes no such parameter")
            for parameter in sorted(spec.required - set(parameters)):
                problems.append(f"{where}.parameters: {action_id} needs {parameter}")
            for parameter, allowed in (spec.choices or {}).items():
                if parameter in parameters and parameters[parameter] not in allowed:
                    problems.append(
                        f"{where}.parameters.{parameter}: {parameters[parameter]!r} is not one of "
                        + ", ".join(sorted(allowed))
                    )
        if "duration" in (action.get("parameters") or {}):
            try:
                iso_duration_seconds(action["parameters"]["duration"])
            except ValueError as exc:
                problems.append(f"{where}.parameters.duration: {exc}")
        for earlier in action.get("startAfter") or []:
            if earlier not in actions or earlier == name:
                problems.append(f"{where}.startAfter: no other action named {earlier!r}")
    for name in sorted(set(targets) - used):
        problems.append(f"targets.{name}: no action uses this target")
    return problems


def template_errors(document: Mapping[str, Any]) -> list[str]:
    """Every way the request breaks the API's shape, botocore's model or FIS's rules."""
    return [*schema_errors(document), *botocore_errors(document), *semantic_errors(document)]


def action_durations(document: Mapping[str, Any]) -> list[int]:
    """The durations (seconds) the template's actions hold their fault."""
    return [
        iso_duration_seconds(action["parameters"]["duration"])
        for action in (document.get("actions") or {}).values()
        if "duration" in (action.get("parameters") or {})
    ]
