"""The contract suite's fixtures: the real terraform binary (tests/terraform's offline CLI
configuration and workspace) evaluates the producer, Helm's engine renders the consumers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shopfloor.delivery.render import ChartSet
from tests.charts.chartkit import REPO
from tests.terraform.conftest import scratch_workspace, terraform, terraform_workspace
from tests.terraform.terraformkit import TerraformWorkspace

from .contractkit import AWS_ENVIRONMENTS, Contract

__all__ = ["scratch_workspace", "terraform", "terraform_workspace"]


@pytest.fixture(scope="session")
def contracts(terraform_workspace: TerraformWorkspace) -> dict[str, Contract]:
    """Each AWS environment's contract as terraform computes it (init + apply of a module with no
    provider and no resource: about a second each)."""
    return {environment: terraform_workspace.contract(environment) for environment in AWS_ENVIRONMENTS}


@pytest.fixture(scope="module")
def chart_set() -> Iterator[ChartSet]:
    with ChartSet(REPO) as charts:
        yield charts
