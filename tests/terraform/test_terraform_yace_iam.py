"""terraform/modules/yace-iam run through real Terraform with the AWS provider from a filesystem
mirror (AWS itself is mocked by `terraform test`'s mock_provider): `fmt -check`, `validate` and
the module's own test, which pins the trust policy and the permissions exactly. Each is also shown
failing on a broken copy."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.terraform.terraformkit import MODULES

MODULE = MODULES / "yace-iam"
MIRROR_HINT = (
    "Provide the AWS provider 5.x as a Terraform filesystem mirror (a folder holding "
    "registry.terraform.io/hashicorp/aws/<version>/<os_arch>/, e.g. made by `terraform providers mirror`) and "
    "set TF_PROVIDER_MIRROR to that folder; these machines ship one under /opt (docs: /work/shared/TOOLS.md)."
)


def provider_mirror() -> Path | None:
    """TF_PROVIDER_MIRROR, else the first folder under the usual roots that holds the AWS provider."""
    if explicit := os.environ.get("TF_PROVIDER_MIRROR"):
        return Path(explicit)
    roots = [
        Path("/opt"),
        Path("/usr/share/terraform"),
        Path("/usr/local/share/terraform"),
        Path.home() / ".terraform.d",
    ]
    for root in roots:
        for aws in sorted(root.glob("*/registry.terraform.io/hashicorp/aws")) + sorted(
            root.glob("registry.terraform.io/hashicorp/aws")
        ):
            return aws.parents[2]
    return None


@pytest.fixture(scope="module")
def terraform(
    missing_dependency: Callable[[str, str], None], tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., subprocess.CompletedProcess[str]]:
    binary = shutil.which("terraform")
    if binary is None:
        missing_dependency("terraform", "Install Terraform 1.9 or later on PATH (these machines ship 1.11.4).")
    mirror = provider_mirror()
    if mirror is None or not (mirror / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        missing_dependency(f"the AWS provider mirror ({mirror or 'not found'})", MIRROR_HINT)
    assert binary is not None
    assert mirror is not None
    config = tmp_path_factory.mktemp("terraform") / "cli.tfrc"
    config.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/hashicorp/aws"]\n'
        "  }\n"
        "}\n"
    )
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}

    def run(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *args], cwd=directory, env=env, capture_output=True, text=True, timeout=300, check=False
        )

    return run


@pytest.fixture
def module_copy(tmp_path: Path) -> Path:
    """The module in a scratch folder, so init writes nothing into the repository."""
    return Path(shutil.copytree(MODULE, tmp_path / "yace-iam"))


def init(terraform: Callable[..., subprocess.CompletedProcess[str]], directory: Path) -> None:
    result = terraform(directory, "init", "-backend=false", "-input=false", "-no-color")
    assert result.returncode == 0, result.stdout + result.stderr


def module_test(
    terraform: Callable[..., subprocess.CompletedProcess[str]], directory: Path
) -> subprocess.CompletedProcess[str]:
    return terraform(directory, "test", "-no-color")


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_fmt_validate_and_the_module_test_pass(
    terraform: Callable[..., subprocess.CompletedProcess[str]], module_copy: Path
) -> None:
    fmt = terraform(module_copy, "fmt", "-check", "-recursive", "-no-color")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    init(terraform, module_copy)
    validate = terraform(module_copy, "validate", "-no-color")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    tested = module_test(terraform, module_copy)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "5 passed, 0 failed" in tested.stdout


def test_fmt_check_fails_on_misformatted_code(
    terraform: Callable[..., subprocess.CompletedProcess[str]], module_copy: Path
) -> None:
    replace(module_copy / "outputs.tf", "  value       = aws_iam_role.yace.arn", "  value = aws_iam_role.yace.arn")
    result = terraform(module_copy, "fmt", "-check", "-recursive", "-no-color")
    assert result.returncode != 0
    assert "outputs.tf" in result.stdout


def test_validate_fails_on_a_reference_to_nothing(
    terraform: Callable[..., subprocess.CompletedProcess[str]], module_copy: Path
) -> None:
    replace(module_copy / "main.tf", "role = aws_iam_role.yace.id", "role = aws_iam_role.exporter.id")
    init(terraform, module_copy)
    result = terraform(module_copy, "validate", "-no-color")
    assert result.returncode != 0
    assert "aws_iam_role.exporter" in result.stdout + result.stderr


def test_the_module_test_fails_on_a_wider_role(
    terraform: Callable[..., subprocess.CompletedProcess[str]], module_copy: Path
) -> None:
    """One copy, two widenings that different runs pin (terraform test cannot run one run alone,
    and each run costs seconds of provider start-up): a write action and any ServiceAccount."""
    main = module_copy / "main.tf"
    replace(main, '"tag:GetResources",\n', '"tag:GetResources",\n    "cloudwatch:PutMetricData",\n')
    replace(
        main,
        '"system:serviceaccount:${var.namespace}:${var.service_account}"',
        '"system:serviceaccount:${var.namespace}:*"',
    )
    init(terraform, module_copy)
    result = module_test(terraform, module_copy)
    assert result.returncode != 0
    for failing in (
        "the_role_reads_metrics_and_tags_and_nothing_else",
        "only_yace_s_service_account_may_assume_the_role",
    ):
        assert f'run "{failing}"... fail' in result.stdout, result.stdout
    assert 'run "a_malformed_provider_arn_is_refused"... pass' in result.stdout
