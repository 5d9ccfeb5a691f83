"""terraform/ checked by the real terraform binary, offline (providers from the mirror):
`fmt -check`, `init` + `validate` of every module and of the stack, `terraform test` of every module
that calls no registry module (mock AWS provider, `command = plan`), and the stack planned for each
environment. Registry modules (network's vpc, eks's eks and iam) cannot be downloaded here: the
workspace replaces them by stubs (terraformkit.stub_registry_modules), so their wrappers and the
stack's wiring are validated, not the registry modules themselves.

The work runs once per session, in parallel (terraform is mostly waiting for its provider to
start); the tests then read the results. Broken copies show that each kind of check fails.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.terraform.terraformkit import (
    ENVIRONMENT_NAMES,
    MODULES,
    PROVIDER_MIRROR_VARIABLE,
    TerraformWorkspace,
    find_provider_mirror,
    offline_modules,
    output_text,
    passed_runs,
    registry_module_calls,
)

# The session's terraform work (about 2 CPU-minutes: every terraform command starts the 600 MB AWS
# provider) runs in the first test's setup. Alone on 2 cores it takes about a minute; on a machine
# shared with other test runs it has taken 7, so the default per-test timeout is raised here.
pytestmark = pytest.mark.timeout(900)

# The modules that wrap registry modules: validated against stubs, planned only through the stack's
# overrides, their insides covered by the HCL checks (pins) and docs/infrastructure.md's list.
REGISTRY_WRAPPERS = ("eks", "network")
VALIDATED = (*sorted(path.name for path in MODULES.iterdir() if path.is_dir()), "stack")
WORKERS = max(2, os.cpu_count() or 2)


@dataclass
class Results:
    fmt: subprocess.CompletedProcess[str]
    validate: dict[str, subprocess.CompletedProcess[str]]
    tests: dict[str, subprocess.CompletedProcess[str]]
    stack_plans: dict[str, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def results(terraform_workspace: TerraformWorkspace) -> Results:
    workspace = terraform_workspace
    # The first init fills the shared plugin cache; the others then only link the provider.
    workspace.init("contract")
    workspace.init("s3")
    with ThreadPoolExecutor(WORKERS) as pool:
        validate = {name: pool.submit(workspace.validate, name) for name in VALIDATED}
        validated = {name: future.result() for name, future in validate.items()}
        tests = {name: pool.submit(workspace.test, name) for name in offline_modules()}
        plans = {
            env: pool.submit(workspace.test, "stack", f"-var-file={workspace.tfvars(env)}") for env in ENVIRONMENT_NAMES
        }
        fmt = pool.submit(workspace.fmt_check)
        return Results(
            fmt=fmt.result(),
            validate=validated,
            tests={name: future.result() for name, future in tests.items()},
            stack_plans={env: future.result() for env, future in plans.items()},
        )


def test_terraform_is_formatted(results: Results) -> None:
    assert results.fmt.returncode == 0, output_text(results.fmt)


def test_only_the_registry_wrappers_call_registry_modules() -> None:
    """A new module that calls no registry module is validated and tested like the others."""
    wrappers = sorted(name for name in VALIDATED if name != "stack" and registry_module_calls(MODULES / name))
    assert wrappers == sorted(REGISTRY_WRAPPERS)
    assert sorted(offline_modules()) == sorted(set(VALIDATED) - set(REGISTRY_WRAPPERS) - {"stack"})


def test_the_workspace_stubbed_exactly_the_registry_calls(terraform_workspace: TerraformWorkspace) -> None:
    assert terraform_workspace.stubbed == {
        "network": ["vpc"],
        "eks": [
            "cluster_autoscaler_irsa",
            "ebs_csi_irsa",
            "efs_csi_irsa",
            "eks",
            "load_balancer_controller_irsa",
            "service_irsa",
        ],
    }


@pytest.mark.parametrize("name", VALIDATED)
def test_validates(results: Results, name: str) -> None:
    result = results.validate[name]
    assert result.returncode == 0, output_text(result)
    assert "The configuration is valid" in result.stdout, output_text(result)


@pytest.mark.parametrize("name", offline_modules())
def test_module_tests_pass(results: Results, name: str) -> None:
    assert list((MODULES / name / "tests").glob("*.tftest.hcl")), f"{name} has no tests/*.tftest.hcl"
    result = results.tests[name]
    assert passed_runs(result) >= 1, output_text(result)


@pytest.mark.parametrize("environment", ENVIRONMENT_NAMES)
def test_the_stack_plans_for_each_environment(results: Results, environment: str) -> None:
    result = results.stack_plans[environment]
    assert passed_runs(result) >= 2, output_text(result)


# --- The checks can fail: each broken copy below must be reported ----------------------------------


@dataclass(frozen=True)
class Breakage:
    """One deliberate bug: in `module`, replace `old` by `new` in `file`; `terraform test` (or
    validate, fmt) must then fail and say `expected`."""

    module: str
    file: str
    old: str
    new: str
    expected: str
    command: str = "test"


BREAKAGES = {
    "a public bucket": Breakage(
        "s3", "main.tf", "  block_public_policy     = true\n", "  block_public_policy     = false\n",
        "all four public access blocks are on",
    ),
    "Redis without TLS": Breakage(
        "elasticache", "main.tf", "  transit_encryption_enabled = true\n", "  transit_encryption_enabled = false\n",
        "TLS is required: clients must use rediss://",
    ),
    "External Secrets allowed to write secrets": Breakage(
        "secrets", "main.tf", '"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"',
        '"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"',
        "External Secrets only reads secrets",
    ),
    "database subnets of the first zone only": Breakage(
        "contract", "main.tf", "cidrsubnet(local.vpc_cidr, 4, 4 + zone)", "cidrsubnet(local.vpc_cidr, 4, 4)",
        "prod's database subnets (RDS, ElastiCache) are one /20 per zone from .64",
    ),
    "an External Secrets role its add-on does not expect": Breakage(
        "contract", "outputs.tf", 'role_name = local.on_eks ? "${local.name}-${key}"',
        'role_name = local.on_eks ? "${local.name}-irsa-${key}"',
        "the External Secrets role is shopfloor-<env>-external-secrets",
    ),
    "a module calling an undeclared variable": Breakage(
        "efs", "main.tf", "var.nfs_port", "var.nfs_port_number", 'An input variable with the name "nfs_port_number"',
        command="validate",
    ),
    "a misformatted file": Breakage(
        "ecr", "main.tf", "  name                 = ", "  name = ", "modules/ecr/main.tf", command="fmt",
    ),
}  # fmt: skip


def break_and_run(workspace: TerraformWorkspace, breakage: Breakage) -> subprocess.CompletedProcess[str]:
    path = workspace.module(breakage.module) / breakage.file
    text = path.read_text()
    assert breakage.old in text, f"{breakage.old!r} is not in {breakage.module}/{breakage.file}"
    path.write_text(text.replace(breakage.old, breakage.new, 1))
    if breakage.command == "fmt":
        return workspace.fmt_check()
    if breakage.command == "validate":
        return workspace.validate(breakage.module)
    return workspace.test(breakage.module)


@pytest.fixture(scope="session")
def broken_results(
    terraform_workspace: TerraformWorkspace, results: Results, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """A representative breakage per kind of check (more were run while writing the tests: the
    commit messages list them), each in a copy of its own of the initialised workspace (small: the
    providers are links into the plugin cache)."""
    workspaces = {name: terraform_workspace.clone(tmp_path_factory.mktemp("broken")) for name in BREAKAGES}
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {name: pool.submit(break_and_run, workspaces[name], BREAKAGES[name]) for name in BREAKAGES}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", BREAKAGES)
def test_a_broken_copy_is_reported(broken_results: dict[str, subprocess.CompletedProcess[str]], name: str) -> None:
    result = broken_results[name]
    assert result.returncode != 0, f"{name} went unnoticed:\n{output_text(result)}"
    assert BREAKAGES[name].expected in " ".join(output_text(result).split()), output_text(result)


def test_an_environment_file_with_a_malformed_fact_is_refused(scratch_workspace: TerraformWorkspace) -> None:
    """The contract names the file and the fact, before anything is planned."""
    path = scratch_workspace.infrastructure("prod")
    path.write_text(path.read_text().replace("vpcCidr: 10.30.0.0/16", "vpcCidr: 10.30.0.0/20"))
    result = scratch_workspace.test("contract")
    assert result.returncode != 0
    assert "vpcCidr in" in result.stderr
    assert "must be a /16, not 10.30.0.0/20" in " ".join(result.stderr.split())


def test_the_mirror_can_be_named_and_must_hold_the_aws_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PROVIDER_MIRROR_VARIABLE, str(tmp_path))
    assert find_provider_mirror() is None  # an empty folder is no mirror
    (tmp_path / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / "linux_amd64").mkdir(parents=True)
    assert find_provider_mirror() == tmp_path
