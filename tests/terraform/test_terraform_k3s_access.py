"""Issue 16 item 6 on K3s: people log in through the API server's OpenID Connect flags.

`terraform test` of terraform/modules/k3s/tests/access.tftest.hcl in the offline workspace (a mock
AWS provider: nothing reaches AWS, and no K3s server starts here) checks the server's config file
with and without an issuer, that user data and the SSM association write the same file, and the
refusals of the `oidc` variable. Here also: the module's groups are the ones argocd/security binds
(and the EKS module gives), and both shell scripts that write the file pass shellcheck once
Terraform's placeholders are filled. What is only validated: no API server has read these flags and
no ID token has been checked (no cluster, no identity provider here).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.terraform.terraformkit import MODULES, REPO, TerraformWorkspace, output_text, parse, passed_runs

K3S = MODULES / "k3s"
SHELLCHECK = Path(sys.executable).parent / "shellcheck"
# No issuer; the same file both ways; the flags and the kubeconfig; five refusals.
RUNS = 8


def test_the_k3s_access_plan_passes(terraform_workspace: TerraformWorkspace) -> None:
    result = terraform_workspace.test("k3s", "-filter=tests/access.tftest.hcl")
    assert passed_runs(result) == RUNS, output_text(result)
    assert "0 failed" in result.stdout, output_text(result)


def variable_defaults(module: Path) -> dict[str, object]:
    return {k: v.get("default") for block in parse(module)["variable"] for k, v in block.items()}


def test_the_k3s_groups_are_the_ones_the_rbac_binds_and_eks_gives() -> None:
    k3s = variable_defaults(K3S)["access_groups"]
    access = yaml.safe_load((REPO / "argocd" / "security" / "values.yaml").read_text())["access"]
    assert k3s == {
        "platform_admins": access["platformAdmins"],
        "developers": access["developers"],
        "learners": access["learners"],
    }
    eks = variable_defaults(MODULES / "eks")["access_groups"]
    assert isinstance(eks, dict)
    assert isinstance(k3s, dict)
    assert eks == {"developers": k3s["developers"], "learners": k3s["learners"]}


def test_the_default_groups_prefix_turns_the_idps_groups_into_the_rbac_groups() -> None:
    """The IdP sends platform-admins, developers, learners; the prefix makes them the RBAC groups."""
    variables = (K3S / "variables.tf").read_text()
    [prefix] = re.findall(r'groups_prefix\s*=\s*optional\(string, "([^"]+)"\)', variables)
    access = yaml.safe_load((REPO / "argocd" / "security" / "values.yaml").read_text())["access"]
    assert {group.removeprefix(prefix) for group in access.values()} == {"platform-admins", "developers", "learners"}
    assert all(group.startswith(prefix) for group in access.values())


def filled(template: str, values: dict[str, str]) -> str:
    text = (K3S / "templates" / template).read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text, f"{template}: a placeholder is left"
    return text


@pytest.mark.parametrize(
    ("template", "values"),
    [
        (
            "server.sh.tftpl",
            {
                "region": "eu-west-1",
                "token_parameter": "/shopfloor-dev/k3s/token",
                "k3s_version": "v1.31.4+k3s1",
                "node_setup": "",
                "server_config": "secrets-encryption: true",
            },
        ),
        ("apply-server-config.sh.tftpl", {"config_base64": "c2VjcmV0cy1lbmNyeXB0aW9uOiB0cnVlCg=="}),
    ],
)
def test_the_scripts_that_write_the_config_pass_shellcheck(
    template: str, values: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / template.removesuffix(".tftpl")
    script.write_text(filled(template, values))
    result = subprocess.run([str(SHELLCHECK), str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
