"""terraform/modules/chaos-fis with the real terraform binary: formatted, valid, and its
`terraform test` (tests/role_policy.tftest.hcl, a mocked AWS provider, command = plan) passes:
the FIS role may do exactly what the templates in chaos/aws need, narrowed to the shop's
resources. The module reads the templates beside terraform/, so the copy gets chaos/aws too.
A broken copy of the policy is shown failing the test. There is no AWS here: nothing is applied."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tests.terraform.terraformkit import (
    MODULES,
    REPO,
    TERRAFORM_INSTALL_HINT,
    init_copy,
    run_terraform,
    terraform_binary,
    terraform_environment,
)

MODULE = MODULES / "chaos-fis"
RUNS = (
    "every_template_and_exactly_their_permissions",
    "the_permissions_follow_the_chosen_templates",
    "an_action_without_permissions_is_refused",
)


def module_copy(tmp_path: Path, missing_dependency: Callable[[str, str], None]) -> tuple[Path, dict[str, str]]:
    if terraform_binary() is None:
        missing_dependency("terraform", TERRAFORM_INSTALL_HINT)
    module, environment = init_copy(MODULE, tmp_path)
    shutil.copytree(REPO / "chaos" / "aws", tmp_path / "chaos" / "aws")
    return module, environment


def test_the_module_is_formatted_valid_and_passes_its_tests(
    tmp_path: Path, missing_dependency: Callable[[str, str], None]
) -> None:
    module, environment = module_copy(tmp_path, missing_dependency)
    formatted = run_terraform(module, environment, "fmt", "-check", "-recursive", "-no-color")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    validated = run_terraform(module, environment, "validate", "-no-color")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    tested = run_terraform(module, environment, "test", "-no-color")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    for run in RUNS:
        assert f'run "{run}"... pass' in tested.stdout, tested.stdout


def test_a_policy_that_lets_fis_terminate_any_instance_fails_the_test(
    tmp_path: Path, missing_dependency: Callable[[str, str], None]
) -> None:
    module, environment = module_copy(tmp_path, missing_dependency)
    main = module / "main.tf"
    text = main.read_text()
    guard = '        Condition = { StringEquals = { "aws:ResourceTag/eks:cluster-name" = var.cluster_name } }\n'
    assert guard in text
    main.write_text(text.replace(guard, ""))
    tested = run_terraform(module, environment, "test", "-no-color")
    assert tested.returncode != 0
    assert "The role may terminate only instances of the shop's cluster" in tested.stdout + tested.stderr


def test_a_misformatted_file_fails_fmt(tmp_path: Path, missing_dependency: Callable[[str, str], None]) -> None:
    if terraform_binary() is None:
        missing_dependency("terraform", TERRAFORM_INSTALL_HINT)
    module = tmp_path / "chaos-fis"
    shutil.copytree(MODULE, module)
    environment = terraform_environment(tmp_path)
    (module / "outputs.tf").write_text((module / "outputs.tf").read_text().replace("  value       =", "  value =", 1))
    formatted = run_terraform(module, environment, "fmt", "-check", "-no-color")
    assert formatted.returncode != 0
    assert "outputs.tf" in formatted.stdout
