"""terraform/ as parsed HCL: layout, documentation, pins, nothing hard-coded, one stack every
environment applies (an environment is only values and a state key) and a one-variable platform
switch. Each check is also shown failing on a deliberately broken copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.terraform.terraformkit import (
    ENVIRONMENT_NAMES,
    ENVIRONMENTS,
    MODULES,
    STACK,
    TERRAFORM,
    check_environment,
    check_module,
    check_platform_switch,
    check_skip_reasons,
    check_stack,
    parse,
    replace_once,
    tfvars,
)

MODULE_NAMES = (
    "contract",
    "network",
    "eks",
    "k3s",
    "ecr",
    "rds",
    "elasticache",
    "s3",
    "efs",
    "secrets",
    "github-oidc",
    "codepipeline",
    "yace-iam",
    "logs",
    "chaos-fis",
)


def test_every_expected_module_exists_and_nothing_else() -> None:
    assert sorted(path.name for path in MODULES.iterdir() if path.is_dir()) == sorted(MODULE_NAMES)
    assert sorted(path.name for path in ENVIRONMENTS.iterdir() if path.is_dir()) == sorted(ENVIRONMENT_NAMES)


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_follows_the_rules(module: str) -> None:
    assert check_module(MODULES / module) == []


def test_the_stack_follows_the_rules() -> None:
    assert check_stack(STACK) == []
    assert check_platform_switch(STACK, parse(STACK)) == []


@pytest.mark.parametrize("environment", ENVIRONMENT_NAMES)
def test_an_environment_is_only_its_values_and_state_key(environment: str) -> None:
    """So switching an environment's platform (or anything else) is a change of values (its tfvars,
    or its environments/<env>/infrastructure.yaml), not a code change."""
    assert check_environment(ENVIRONMENTS / environment, parse(STACK)) == []


def test_exactly_one_environment_owns_the_account_wide_resources() -> None:
    owners = [env for env in ENVIRONMENT_NAMES if tfvars(ENVIRONMENTS / env)["owns_account_resources"] is True]
    assert owners == ["dev"]


def test_every_inline_checkov_skip_says_why() -> None:
    assert check_skip_reasons(TERRAFORM) == []


# The checks can fail: each broken copy below must be reported.


@pytest.fixture
def broken_module(tmp_path: Path) -> Path:
    copy = tmp_path / "rds"
    shutil.copytree(MODULES / "rds", copy)
    return copy


def test_an_unpinned_provider_is_reported(broken_module: Path) -> None:
    replace_once(broken_module / "versions.tf", '      version = "~> 5.83"\n', "")
    assert check_module(broken_module) == ["rds: provider aws has no version constraint"]


def test_a_missing_required_version_is_reported(broken_module: Path) -> None:
    replace_once(broken_module / "versions.tf", '  required_version = "~> 1.9"\n', "")
    assert check_module(broken_module) == ["rds: no terraform required_version"]


def test_an_undescribed_variable_and_output_are_reported(broken_module: Path) -> None:
    replace_once(broken_module / "variables.tf", '  description = "VPC the database lives in."\n', "")
    replace_once(broken_module / "outputs.tf", '  description = "PostgreSQL port."\n', "")
    assert check_module(broken_module) == [
        "rds: variable vpc_id has no description",
        "rds: output port has no description",
    ]


def test_an_untyped_variable_is_reported(broken_module: Path) -> None:
    replace_once(
        broken_module / "variables.tf", 'variable "vpc_id" {\n  type        = string\n', 'variable "vpc_id" {\n'
    )
    assert check_module(broken_module) == ["rds: variable vpc_id has no type"]


def test_a_registry_module_without_version_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "network"
    shutil.copytree(MODULES / "network", copy)
    replace_once(copy / "main.tf", '  version = "~> 5.16"\n', "")
    assert check_module(copy) == ["network: module vpc (terraform-aws-modules/vpc/aws) has no version"]


def test_a_missing_file_and_readme_row_are_reported(broken_module: Path) -> None:
    (broken_module / "outputs.tf").unlink()
    replace_once(broken_module / "README.md", "| `vpc_id` |", "| vpc_id |")
    assert check_module(broken_module) == ["rds: outputs.tf is missing", "rds: README.md does not list variable vpc_id"]


def test_hard_coded_account_region_and_password_are_reported(broken_module: Path) -> None:
    replace_once(
        broken_module / "main.tf",
        "  username                      = var.master_username\n",
        '  password = "hunter2hunter2"\n',
    )
    replace_once(
        broken_module / "main.tf",
        '  engine         = "postgres"\n',
        '  engine = "postgres"\n  availability_zone = "eu-west-1a"\n',
    )
    replace_once(
        broken_module / "variables.tf", '  default     = "shopfloor_admin"\n', '  default     = "admin-123456789012"\n'
    )
    assert check_module(broken_module) == [
        "rds: resource aws_db_instance.postgres.password is a literal string",
        "rds/main.tf:60: names a region (it is the environment's: infrastructure.yaml)",
        "rds/variables.tf:48: looks like an AWS account id",
    ]


def test_a_stack_without_locking_or_tags_or_with_a_fixed_key_is_reported(tmp_path: Path) -> None:
    stack = tmp_path / "stack"
    shutil.copytree(STACK, stack)
    replace_once(stack / "versions.tf", "    use_lockfile = true\n", '    key     = "shopfloor/terraform.tfstate"\n')
    replace_once(stack / "versions.tf", '      ManagedBy   = "terraform"\n', "")
    replace_once(stack / "versions.tf", "  region = module.contract.region\n", "  region = var.aws_region\n")
    assert check_stack(stack) == [
        "stack: the S3 backend has no locking (use_lockfile or dynamodb_table)",
        "stack: the S3 backend names a state key (each environment's backend.hcl does)",
        "stack: provider aws region is not the contract's (${module.contract.region})",
        "stack: provider aws default_tags lack ['ManagedBy']",
    ]


def test_an_environment_with_code_a_wrong_key_or_unknown_values_is_reported(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    shutil.copytree(ENVIRONMENTS / "staging", staging)
    (staging / "main.tf").write_text('module "extra" {\n  source = "../modules/efs"\n}\n')
    replace_once(staging / "backend.hcl", "shopfloor/staging/", "shopfloor/prod/")
    replace_once(staging / "terraform.tfvars", "owns_account_resources = false", "owns_acount_resources = false")
    with (staging / "terraform.tfvars").open("a") as handle:
        handle.write('region = "eu-west-1"\nvpc_cidr = "10.20.0.0/16"\n')
    assert check_environment(staging, parse(STACK)) == [
        "staging: main.tf does not belong here",
        "staging/terraform.tfvars:14: names a region (it is the environment's: infrastructure.yaml)",
        "staging: terraform.tfvars sets region (it comes from environments/staging/infrastructure.yaml)",
        "staging: terraform.tfvars sets vpc_cidr (it comes from environments/staging/infrastructure.yaml)",
        "staging: terraform.tfvars sets owns_acount_resources, which the stack does not declare",
        "staging: terraform.tfvars sets region, which the stack does not declare",
        "staging: terraform.tfvars sets vpc_cidr, which the stack does not declare",
        "staging: terraform.tfvars does not set the required owns_account_resources",
        "staging: backend.hcl key is 'shopfloor/prod/terraform.tfstate', not 'shopfloor/staging/terraform.tfstate'",
    ]


def test_an_environment_without_its_facts_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.terraform import terraformkit

    monkeypatch.setattr(terraformkit, "FACTS", tmp_path)
    assert check_environment(ENVIRONMENTS / "prod", parse(STACK)) == [
        "prod: environments/prod/infrastructure.yaml is missing (the contract reads it)"
    ]


def test_a_cluster_chosen_by_anything_but_platform_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "stack"
    shutil.copytree(STACK, copy)
    replace_once(copy / "main.tf", "  count  = local.on_k3s ? 1 : 0\n", "  count  = var.node_min_size > 2 ? 1 : 0\n")
    replace_once(
        copy / "main.tf",
        '  on_eks   = local.platform == "eks"\n',
        '  on_eks   = local.platform == "eks" && var.single_nat_gateway\n',
    )
    assert check_platform_switch(copy, parse(copy)) == [
        "stack: module eks's count depends on var.single_nat_gateway",
        "stack: module k3s is not counted on module.contract.platform == 'k3s'",
        "stack: module k3s's count depends on var.node_min_size",
    ]


def test_a_skip_without_reason_is_reported(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  #checkov:skip=CKV_AWS_18\n}\n')
    assert check_skip_reasons(tmp_path) == ["main.tf:2: CKV_AWS_18 skipped without a reason"]
