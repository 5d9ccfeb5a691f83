"""The real terraform binary for the suites here: one offline CLI configuration and one workspace
(a copy of terraform/, each module initialised once) per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.terraform.terraformkit import (
    TERRAFORM_INSTALL_HINT,
    Terraform,
    TerraformWorkspace,
    find_provider_mirror,
    terraform_binary,
)


@pytest.fixture(scope="session")
def terraform(missing_dependency: Callable[[str, str], None], tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    binary = terraform_binary()
    if binary is None:
        missing_dependency("terraform (not on PATH)", TERRAFORM_INSTALL_HINT)
    mirror = find_provider_mirror()
    if mirror is None:
        missing_dependency("a Terraform provider mirror with hashicorp/aws", TERRAFORM_INSTALL_HINT)
    assert binary is not None
    assert mirror is not None
    return Terraform.offline(binary, mirror, tmp_path_factory.mktemp("terraform-cli"))


@pytest.fixture(scope="session")
def terraform_workspace(terraform: Terraform, tmp_path_factory: pytest.TempPathFactory) -> TerraformWorkspace:
    return TerraformWorkspace(terraform, tmp_path_factory.mktemp("terraform-workspace"))


@pytest.fixture
def scratch_workspace(terraform: Terraform, tmp_path: Path) -> TerraformWorkspace:
    """A workspace of one's own, to break a copy without touching the shared one."""
    return TerraformWorkspace(terraform, tmp_path)
