"""terraform/modules/yace-iam: its `terraform test` (run for every module by test_terraform_cli.py)
pins the trust policy and the permissions exactly; here it is shown failing on a widened role."""

from __future__ import annotations

from tests.terraform.terraformkit import TerraformWorkspace, assert_runs_fail, replace_once


def test_the_module_test_fails_on_a_wider_role(scratch_workspace: TerraformWorkspace) -> None:
    """One copy, two widenings that different runs pin (each run costs seconds of provider
    start-up): a write action, and any ServiceAccount of the namespace."""
    main = scratch_workspace.module("yace-iam") / "main.tf"
    replace_once(main, '"tag:GetResources",\n', '"tag:GetResources",\n    "cloudwatch:PutMetricData",\n')
    replace_once(
        main,
        '"system:serviceaccount:${var.namespace}:${var.service_account}"',
        '"system:serviceaccount:${var.namespace}:*"',
    )
    assert_runs_fail(
        scratch_workspace.test("yace-iam"),
        ["the_role_reads_metrics_and_tags_and_nothing_else", "only_yace_s_service_account_may_assume_the_role"],
        passing="a_malformed_provider_arn_is_refused",
    )
