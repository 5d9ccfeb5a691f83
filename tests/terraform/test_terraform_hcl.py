"""terraform/ as parsed HCL: layout, documentation, pins, nothing hard-coded, the same wiring in
every environment and a one-variable platform switch. Each check is also shown failing on a
deliberately broken copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.terraform.terraformkit import (
    ENVIRONMENT_NAMES,
    ENVIRONMENTS,
    MODULES,
    TERRAFORM,
    check_environment,
    check_module,
    check_platform_switch,
    check_same_wiring,
    check_skip_reasons,
    parse,
    tfvars,
)

MODULE_NAMES = ("network", "eks", "k3s", "ecr", "rds", "elasticache", "s3", "efs", "github-oidc")


def test_every_expected_module_exists_and_nothing_else() -> None:
    assert sorted(path.name for path in MODULES.iterdir() if path.is_dir()) == sorted(MODULE_NAMES)
    assert sorted(path.name for path in ENVIRONMENTS.iterdir() if path.is_dir()) == sorted(ENVIRONMENT_NAMES)


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_follows_the_rules(module: str) -> None:
    assert check_module(MODULES / module) == []


@pytest.mark.parametrize("environment", ENVIRONMENT_NAMES)
def test_environment_follows_the_rules(environment: str) -> None:
    directory = ENVIRONMENTS / environment
    assert check_environment(directory) == []
    assert check_platform_switch(directory, parse(directory)) == []


def test_every_environment_wires_the_same_modules() -> None:
    assert check_same_wiring({name: parse(ENVIRONMENTS / name) for name in ENVIRONMENT_NAMES}) == []


def test_environments_differ_only_in_their_tfvars_and_state_key() -> None:
    """So switching an environment's platform (or anything else) is a tfvars change, not a code change."""
    for name in ("main.tf", "variables.tf", "outputs.tf"):
        texts = {(ENVIRONMENTS / env / name).read_text() for env in ENVIRONMENT_NAMES}
        assert len(texts) == 1, f"{name} differs between environments"
    for env in ENVIRONMENT_NAMES:
        values = tfvars(ENVIRONMENTS / env)
        assert values["environment"] == env
        assert values["platform"] in {"eks", "k3s"}
        assert "region" not in values, "the region comes from TF_VAR_region, not a file"


def test_prod_keeps_its_database() -> None:
    assert tfvars(ENVIRONMENTS / "prod")["deletion_protection"] is True


def test_every_inline_checkov_skip_says_why() -> None:
    assert check_skip_reasons(TERRAFORM) == []


# The checks can fail: each broken copy below must be reported.


@pytest.fixture
def broken_module(tmp_path: Path) -> Path:
    copy = tmp_path / "rds"
    shutil.copytree(MODULES / "rds", copy)
    return copy


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_an_unpinned_provider_is_reported(broken_module: Path) -> None:
    replace(broken_module / "versions.tf", '      version = "~> 5.83"\n', "")
    assert check_module(broken_module) == ["rds: provider aws has no version constraint"]


def test_a_missing_required_version_is_reported(broken_module: Path) -> None:
    replace(broken_module / "versions.tf", '  required_version = "~> 1.9"\n', "")
    assert check_module(broken_module) == ["rds: no terraform required_version"]


def test_an_undescribed_variable_and_output_are_reported(broken_module: Path) -> None:
    replace(broken_module / "variables.tf", '  description = "VPC the database lives in."\n', "")
    replace(broken_module / "outputs.tf", '  description = "PostgreSQL port."\n', "")
    assert check_module(broken_module) == [
        "rds: variable vpc_id has no description",
        "rds: output port has no description",
    ]


def test_an_untyped_variable_is_reported(broken_module: Path) -> None:
    replace(broken_module / "variables.tf", 'variable "vpc_id" {\n  type        = string\n', 'variable "vpc_id" {\n')
    assert check_module(broken_module) == ["rds: variable vpc_id has no type"]


def test_a_registry_module_without_version_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "network"
    shutil.copytree(MODULES / "network", copy)
    replace(copy / "main.tf", '  version = "~> 5.16"\n', "")
    assert check_module(copy) == ["network: module vpc (terraform-aws-modules/vpc/aws) has no version"]


def test_a_missing_file_and_readme_row_are_reported(broken_module: Path) -> None:
    (broken_module / "outputs.tf").unlink()
    replace(broken_module / "README.md", "| `vpc_id` |", "| vpc_id |")
    assert check_module(broken_module) == ["rds: outputs.tf is missing", "rds: README.md does not list variable vpc_id"]


def test_hard_coded_account_region_and_password_are_reported(broken_module: Path) -> None:
    replace(
        broken_module / "main.tf",
        "  username                      = var.master_username\n",
        '  password = "hunter2hunter2"\n',
    )
    replace(
        broken_module / "main.tf",
        '  engine         = "postgres"\n',
        '  engine = "postgres"\n  availability_zone = "eu-west-1a"\n',
    )
    replace(
        broken_module / "variables.tf", '  default     = "shopfloor_admin"\n', '  default     = "admin-123456789012"\n'
    )
    assert check_module(broken_module) == [
        "rds: resource aws_db_instance.postgres.password is a literal string",
        "rds/main.tf:60: names a region (use var.region)",
        "rds/variables.tf:48: looks like an AWS account id",
    ]


def test_an_environment_without_locking_tags_or_the_same_modules_is_reported(tmp_path: Path) -> None:
    environments = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS, environments)
    staging = environments / "staging"
    replace(staging / "versions.tf", "    use_lockfile = true\n", "")
    replace(staging / "versions.tf", '      ManagedBy   = "terraform"\n', "")
    replace(staging / "main.tf", 'module "efs" {', 'module "shared_files" {')
    assert check_environment(staging) == [
        "staging: the S3 backend has no locking (use_lockfile or dynamodb_table)",
        "staging: provider aws default_tags lack ['ManagedBy']",
    ]
    parsed = {name: parse(environments / name) for name in ENVIRONMENT_NAMES}
    assert check_same_wiring(parsed) == [
        "staging: module efs is wired in only one of dev and staging",
        "staging: module shared_files is wired in only one of dev and staging",
    ]


def test_a_cluster_chosen_by_anything_but_platform_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "prod"
    shutil.copytree(ENVIRONMENTS / "prod", copy)
    replace(copy / "main.tf", "  count  = local.on_k3s ? 1 : 0\n", "  count  = var.node_min_size > 2 ? 1 : 0\n")
    assert check_platform_switch(copy, parse(copy)) == [
        "prod: module k3s is not counted on var.platform == 'k3s'",
        "prod: module k3s's count depends on more than var.platform",
    ]


def test_a_skip_without_reason_is_reported(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  #checkov:skip=CKV_AWS_18\n}\n')
    assert check_skip_reasons(tmp_path) == ["main.tf:2: CKV_AWS_18 skipped without a reason"]
