"""Prod keeps its database: deletion protection on and a final snapshot on destroy, checked link
by link from prod's values to the planned aws_db_instance. The last link is `terraform test`
(terraform/modules/rds/tests/final_snapshot.tftest.hcl) planning the module against a mocked AWS
provider, since there is no AWS here. The inline checkov skip of CKV_AWS_293 in the module rests
on this test and names it."""

from __future__ import annotations

from pathlib import Path

from tests.terraform.terraformkit import (
    CHECKOV_SKIP,
    ENVIRONMENTS,
    MODULES,
    STACK,
    TerraformWorkspace,
    named,
    output_text,
    parse,
    tfvars,
)

RDS = MODULES / "rds"
RUNS = ("protected_database_keeps_a_final_snapshot", "unprotected_database_can_be_torn_down")


def test_prod_keeps_its_database(terraform_workspace: TerraformWorkspace) -> None:
    assert tfvars(ENVIRONMENTS / "prod")["deletion_protection"] is True
    assert named(parse(STACK), "module")["rds"]["deletion_protection"] == "${var.deletion_protection}"

    tested = terraform_workspace.test("rds", "-filter=tests/final_snapshot.tftest.hcl")
    assert tested.returncode == 0, output_text(tested)
    for run in RUNS:
        assert f'run "{run}"... pass' in tested.stdout, tested.stdout


def test_the_checkov_skip_of_deletion_protection_names_the_test_that_checks_it() -> None:
    reasons = [
        match.group("reason") or ""
        for match in CHECKOV_SKIP.finditer((RDS / "main.tf").read_text())
        if match.group("check") == "CKV_AWS_293"
    ]
    assert reasons, "the skip is gone: remove this test too"
    for reason in reasons:
        assert f"{Path(__file__).name}::{test_prod_keeps_its_database.__name__}" in reason, reason
