"""terraform/modules/chaos-fis: its `terraform test` (tests/role_policy.tftest.hcl, run for every
module by test_terraform_cli.py) holds the FIS role to exactly what the templates in chaos/aws
need, narrowed to the shop's resources; here a widened policy is shown failing it. There is no AWS
here: nothing is applied."""

from __future__ import annotations

from tests.terraform.terraformkit import TerraformWorkspace, output_text


def test_a_policy_that_lets_fis_terminate_any_instance_fails_the_test(scratch_workspace: TerraformWorkspace) -> None:
    main = scratch_workspace.module("chaos-fis") / "main.tf"
    text = main.read_text()
    guard = '        Condition = { StringEquals = { "aws:ResourceTag/eks:cluster-name" = var.cluster_name } }\n'
    assert guard in text
    main.write_text(text.replace(guard, ""))
    tested = scratch_workspace.test("chaos-fis")
    assert tested.returncode != 0, output_text(tested)
    assert "The role may terminate only instances of the shop's cluster" in output_text(tested)
