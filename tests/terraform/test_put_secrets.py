"""scripts/aws/put-secrets.sh against a recording stand-in for the aws CLI (there is no AWS here):
the stand-in keeps Secrets Manager versions with their staging labels and ElastiCache's accepted
AUTH tokens in a JSON file, the way the real services behave for the calls the script makes. The
secrets and properties come from the real contract (terraform evaluates terraform/modules/contract
for the environment), so the script and Terraform cannot disagree on names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.terraformkit import REPO, TerraformWorkspace

SCRIPT = REPO / "scripts" / "aws" / "put-secrets.sh"
REDIS_ENDPOINT = "master.shopfloor-prod.abcdef.euw1.cache.amazonaws.com"
REDIS_GROUP = "shopfloor-prod"
RANDOM_VALUE = re.compile(r"^[0-9a-f]{64}$")

# The stand-in: Secrets Manager (get-secret-value, put-secret-value, update-secret-version-stage) and
# ElastiCache (modify-replication-group, wait) as far as the script uses them. Every call's arguments
# are recorded, so the test can prove no secret value ever reached a command line.
AWS_STAND_IN = r"""
import json, os, sys, uuid
state_path = os.environ["AWS_STATE"]
state = json.load(open(state_path))
with open(os.environ["AWS_CALLS"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
args = sys.argv[1:]
options = {}
positional = []
i = 0
while i < len(args):
    if args[i].startswith("--"):
        name, count = args[i][2:], 1
        if name == "version-stages":
            count = 0
            while i + 1 + count < len(args) and not args[i + 1 + count].startswith("--"):
                count += 1
        options[name] = args[i + 1 : i + 1 + count]
        i += 1 + count
    else:
        positional.append(args[i])
        i += 1
service = positional[0]
operation = " ".join(positional[1:])

def fail(code, message):
    sys.stderr.write(f"An error occurred ({code}) when calling the {operation} operation: {message}\n")
    sys.exit(254)

def read_file(uri):
    assert uri.startswith("file://"), uri
    return open(uri[len("file://"):]).read()

def save():
    # What the pods read (AWSCURRENT) must be a token ElastiCache accepts, or they fail to connect.
    for name, secret in state["secrets"].items():
        for version in secret["versions"].values():
            token = json.loads(version["value"]).get("auth-token")
            accepted = [t for group in state["redis"].values() for t in group["tokens"]]
            if "AWSCURRENT" in version["stages"] and token and token not in accepted:
                sys.stderr.write(f"stand-in: {name}'s current AUTH token is not one ElastiCache accepts\n")
                sys.exit(99)
    json.dump(state, open(state_path, "w"))

if service == "secretsmanager":
    name = options["secret-id"][0]
    secret = state["secrets"].get(name)
    if secret is None:
        fail("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
    versions = secret["versions"]
    def holder(stage):
        return next((vid for vid, v in versions.items() if stage in v["stages"]), None)
    if operation == "get-secret-value":
        stage = options["version-stage"][0]
        vid = holder(stage)
        if vid is None:
            fail("ResourceNotFoundException", f"can't find the specified secret value for staging label: {stage}")
        version = versions[vid]
        answer = {"Name": name, "VersionId": vid, "SecretString": version["value"], "VersionStages": version["stages"]}
        print(json.dumps(answer))
    elif operation == "put-secret-value":
        vid = str(uuid.uuid4())
        stages = options.get("version-stages", ["AWSCURRENT"])
        for stage in stages:
            old = holder(stage)
            if old:
                versions[old]["stages"].remove(stage)
                if stage == "AWSCURRENT":
                    versions[old]["stages"].append("AWSPREVIOUS")
        versions[vid] = {"value": read_file(options["secret-string"][0]), "stages": stages}
        save()
        print(json.dumps({"Name": name, "VersionId": vid, "VersionStages": stages}))
    elif operation == "update-secret-version-stage":
        stage = options["version-stage"][0]
        target = options["move-to-version-id"][0]
        current = holder(stage)
        removing = options.get("remove-from-version-id", [None])[0]
        if current is not None and current != target and removing != current:
            fail("InvalidParameterException", f"RemoveFromVersionId must name {current}, which holds {stage}")
        if current is not None:
            versions[current]["stages"].remove(stage)
            if stage == "AWSCURRENT":
                versions[current]["stages"].append("AWSPREVIOUS")
        versions[target]["stages"].append(stage)
        if stage == "AWSCURRENT" and "AWSPENDING" in versions[target]["stages"]:
            versions[target]["stages"].remove("AWSPENDING")
        save()
        print(json.dumps({"Name": name, "VersionId": target}))
    else:
        fail("InvalidAction", operation)
elif service == "elasticache":
    if operation == "modify-replication-group":
        request = json.loads(read_file(options["cli-input-json"][0]))
        group = state["redis"][request["ReplicationGroupId"]]
        if request["AuthTokenUpdateStrategy"] == "ROTATE":
            group["tokens"] = [request["AuthToken"], *group["tokens"]][:2]
        elif request["AuthTokenUpdateStrategy"] == "SET":
            if not group["tokens"]:
                fail("InvalidParameterCombination", "SET is allowed only after ROTATE")
            group["tokens"] = [request["AuthToken"]]
        group["strategies"].append(request["AuthTokenUpdateStrategy"])
        save()
        print(json.dumps({"ReplicationGroup": {"ReplicationGroupId": request["ReplicationGroupId"]}}))
    elif operation == "wait replication-group-available":
        state["redis"][options["replication-group-id"][0]]["waits"] += 1
        save()
    else:
        fail("InvalidAction", operation)
else:
    fail("InvalidAction", service)
"""


class FakeAws:
    """The stand-in's folder, state and call log."""

    def __init__(self, folder: Path, contract: dict[str, Any], *, declared: bool = True) -> None:
        self.bin = folder / "bin"
        self.bin.mkdir(parents=True)
        tool = self.bin / "aws"
        tool.write_text(f"#!{sys.executable}\n{AWS_STAND_IN}")
        tool.chmod(0o755)
        self.state_path = folder / "aws-state.json"
        self.calls_path = folder / "aws-calls.jsonl"
        secrets: dict[str, Any] = {}
        if declared:  # as terraform/modules/secrets leaves them: names, no versions
            secrets = {entry["name"]: {"versions": {}} for entry in contract["secrets"].values()}
        redis: dict[str, Any] = {REDIS_GROUP: {"tokens": [], "strategies": [], "waits": 0}}
        self.state_path.write_text(json.dumps({"secrets": secrets, "redis": redis}))
        outputs: dict[str, Any] = {"contract": {"value": contract}}
        if contract["data_stores"]["redis"]["kind"] == "elasticache":
            outputs |= {
                "redis_endpoint": {"value": REDIS_ENDPOINT},
                "redis_replication_group_id": {"value": REDIS_GROUP},
            }
        self.outputs = folder / "outputs.json"
        self.outputs.write_text(json.dumps(outputs))

    def run(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env |= {
            "PATH": f"{self.bin}{os.pathsep}{env['PATH']}",
            "AWS_STATE": str(self.state_path),
            "AWS_CALLS": str(self.calls_path),
            "SHOPFLOOR_TERRAFORM_OUTPUTS": str(self.outputs),
        }
        return subprocess.run(
            [str(SCRIPT), *arguments], capture_output=True, text=True, env=env, timeout=60, check=False
        )

    @property
    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.state_path.read_text()))

    def current(self, secret: str) -> dict[str, str]:
        versions = self.state["secrets"][secret]["versions"]
        values = [json.loads(v["value"]) for v in versions.values() if "AWSCURRENT" in v["stages"]]
        assert len(values) == 1, versions
        return dict(values[0])

    def calls(self) -> list[list[str]]:
        if not self.calls_path.exists():
            return []
        return [json.loads(line) for line in self.calls_path.read_text().splitlines()]

    def operations(self) -> list[str]:
        """ "service operation" of each call (the script always starts with --region R --output json)."""
        return [f"{call[4]} {call[5]}" for call in self.calls()]


@pytest.fixture(scope="module")
def contracts(terraform_workspace: TerraformWorkspace) -> dict[str, dict[str, Any]]:
    return {env: terraform_workspace.contract(env) for env in ("dev", "prod")}


@pytest.fixture
def fake_aws(tmp_path: Path, contracts: dict[str, dict[str, Any]]) -> Callable[..., FakeAws]:
    def make(environment: str = "prod", *, declared: bool = True) -> FakeAws:
        return FakeAws(tmp_path / environment, contracts[environment], declared=declared)

    return make


def all_values(aws: FakeAws) -> list[str]:
    return [
        str(value)
        for secret in aws.state["secrets"].values()
        for version in secret["versions"].values()
        for value in json.loads(version["value"]).values()
    ]


def test_the_first_run_fills_every_secret_of_the_contract(
    fake_aws: Callable[..., FakeAws], contracts: dict[str, dict[str, Any]]
) -> None:
    aws = fake_aws("prod")
    result = aws.run("prod")

    assert result.returncode == 0, result.stderr
    for consumer, entry in contracts["prod"]["secrets"].items():
        value = aws.current(entry["name"])
        assert sorted(value) == sorted(entry["properties"]), consumer
        assert all(RANDOM_VALUE.match(value[p]) for p in entry["properties"] if p != "url"), consumer
    redis = aws.current("shopfloor/prod/redis")
    # TLS verification needs the endpoint's own name; the token is the one ElastiCache accepts.
    assert redis["url"] == f"rediss://:{redis['auth-token']}@{REDIS_ENDPOINT}:6379/0"
    group = aws.state["redis"][REDIS_GROUP]
    assert group["tokens"] == [redis["auth-token"]]
    assert group["strategies"] == ["ROTATE"]
    assert group["waits"] == 1
    assert "shopfloor/prod/catalog: set ADMIN_API_KEY" in result.stdout


def test_no_secret_value_reaches_a_command_line_or_the_output(fake_aws: Callable[..., FakeAws]) -> None:
    aws = fake_aws("prod")
    result = aws.run("prod")
    assert result.returncode == 0, result.stderr
    values = all_values(aws)
    assert len(values) >= 6
    recorded = json.dumps(aws.calls())
    leaked = [value for value in values if value in recorded or value in result.stdout + result.stderr]
    assert leaked == []


def test_a_second_run_changes_nothing(fake_aws: Callable[..., FakeAws]) -> None:
    aws = fake_aws("prod")
    assert aws.run("prod").returncode == 0
    before = aws.state
    calls_before = len(aws.calls())

    again = aws.run("prod")

    assert again.returncode == 0, again.stderr
    assert aws.state == before
    assert not [op for op in aws.operations()[calls_before:] if "put-secret-value" in op or "modify" in op]
    assert again.stdout.count("unchanged") == 4


def test_rotating_one_key_changes_only_that_key(fake_aws: Callable[..., FakeAws]) -> None:
    aws = fake_aws("prod")
    assert aws.run("prod").returncode == 0
    catalog, orders = aws.current("shopfloor/prod/catalog"), aws.current("shopfloor/prod/orders")

    result = aws.run("prod", "--rotate", "catalog/ADMIN_API_KEY")

    assert result.returncode == 0, result.stderr
    assert aws.current("shopfloor/prod/catalog")["ADMIN_API_KEY"] != catalog["ADMIN_API_KEY"]
    assert aws.current("shopfloor/prod/orders") == orders


def test_a_redis_rotation_keeps_the_old_token_valid_until_finished(fake_aws: Callable[..., FakeAws]) -> None:
    aws = fake_aws("prod")
    assert aws.run("prod").returncode == 0
    old = aws.current("shopfloor/prod/redis")["auth-token"]

    rotated = aws.run("prod", "--rotate", "redis/auth-token")
    new = aws.current("shopfloor/prod/redis")

    assert rotated.returncode == 0, rotated.stderr
    assert new["auth-token"] != old
    assert new["url"] == f"rediss://:{new['auth-token']}@{REDIS_ENDPOINT}:6379/0"
    # Pods still holding the old token keep working while the reloader rolls them.
    assert aws.state["redis"][REDIS_GROUP]["tokens"] == [new["auth-token"], old]

    finished = aws.run("prod", "--finish-redis-rotation")

    assert finished.returncode == 0, finished.stderr
    assert aws.state["redis"][REDIS_GROUP]["tokens"] == [new["auth-token"]]
    assert aws.state["redis"][REDIS_GROUP]["strategies"] == ["ROTATE", "ROTATE", "SET"]


def test_dev_has_an_in_cluster_database_password_and_no_redis_token(
    fake_aws: Callable[..., FakeAws], contracts: dict[str, dict[str, Any]]
) -> None:
    aws = fake_aws("dev")
    result = aws.run("dev")

    assert result.returncode == 0, result.stderr
    assert sorted(aws.current("shopfloor/dev/postgresql")) == [
        "catalog-password",
        "orders-password",
        "postgres-password",
    ]
    assert "shopfloor/dev/redis" not in aws.state["secrets"]
    assert not [op for op in aws.operations() if op.startswith("elasticache")]
    refused = aws.run("dev", "--finish-redis-rotation")
    assert refused.returncode == 2
    assert "no AUTH token to rotate" in refused.stderr


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        ((), 2, "Usage: scripts/aws/put-secrets.sh ENV"),
        (("staging",), 1, "the Terraform state is for prod, not staging"),
        (("prod", "--rotate", "catalog/NO_SUCH_KEY"), 2, "no property catalog/NO_SUCH_KEY"),
        (("prod", "--rotate", "catalog"), 2, "--rotate takes NAME/PROPERTY"),
    ],
)
def test_bad_arguments_are_refused_before_any_write(
    fake_aws: Callable[..., FakeAws], arguments: tuple[str, ...], code: int, message: str
) -> None:
    aws = fake_aws("prod")
    result = aws.run(*arguments)
    assert result.returncode == code
    assert message in result.stderr
    assert not [op for op in aws.operations() if "put-secret-value" in op]


def test_secrets_terraform_has_not_declared_are_an_error(fake_aws: Callable[..., FakeAws]) -> None:
    aws = fake_aws("prod", declared=False)
    result = aws.run("prod")
    assert result.returncode != 0
    assert "ResourceNotFoundException" in result.stderr
