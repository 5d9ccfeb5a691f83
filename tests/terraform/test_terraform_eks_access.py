"""Issue 16 item 6 on EKS: `terraform test` of terraform/modules/eks/tests/access.tftest.hcl in the
offline workspace (the registry module stubbed, a mock AWS provider: nothing reaches AWS), and the
module's Kubernetes groups are the ones argocd/security's RBAC binds."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.terraform.terraformkit import MODULES, REPO, TerraformWorkspace, output_text, parse, passed_runs


def test_access_entries_plan_as_least_privilege(terraform_workspace: TerraformWorkspace) -> None:
    result = terraform_workspace.test("eks")
    assert passed_runs(result) == 2, output_text(result)


def test_the_eks_groups_are_the_ones_the_rbac_binds() -> None:
    variables = {k: v for block in parse(MODULES / "eks")["variable"] for k, v in block.items()}
    groups = variables["access_groups"]["default"]
    access = yaml.safe_load(Path(REPO / "argocd" / "security" / "values.yaml").read_text())["access"]
    assert groups == {"developers": access["developers"], "learners": access["learners"]}


def test_the_creator_is_not_admin_and_entries_are_the_only_way_in() -> None:
    text = (MODULES / "eks" / "main.tf").read_text()
    assert "enable_cluster_creator_admin_permissions = false" in text
    assert 'authentication_mode                      = "API"' in text
