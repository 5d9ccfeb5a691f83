"""terraform/modules/yace-iam: its `terraform test` (run for every module by test_terraform_cli.py)
pins the trust policy and the permissions exactly; here it is shown failing on a widened role."""

from __future__ import annotations

from tests.terraform.terraformkit import TerraformWorkspace, output_text


def replace(workspace: TerraformWorkspace, file: str, old: str, new: str) -> None:
    path = workspace.module("yace-iam") / file
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_module_test_fails_on_a_wider_role(scratch_workspace: TerraformWorkspace) -> None:
    """One copy, two widenings that different runs pin (each run costs seconds of provider
    start-up): a write action, and any ServiceAccount of the namespace."""
    replace(
        scratch_workspace, "main.tf", '"tag:GetResources",\n', '"tag:GetResources",\n    "cloudwatch:PutMetricData",\n'
    )
    replace(
        scratch_workspace,
        "main.tf",
        '"system:serviceaccount:${var.namespace}:${var.service_account}"',
        '"system:serviceaccount:${var.namespace}:*"',
    )
    result = scratch_workspace.test("yace-iam")
    assert result.returncode != 0, output_text(result)
    for failing in (
        "the_role_reads_metrics_and_tags_and_nothing_else",
        "only_yace_s_service_account_may_assume_the_role",
    ):
        assert f'run "{failing}"... fail' in result.stdout, result.stdout
    assert 'run "a_malformed_provider_arn_is_refused"... pass' in result.stdout
