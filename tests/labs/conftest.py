"""Fixtures of the offline lab tests: test_offline_<layer>_labs.py's class names its LAYER, and its
labs run once for the class (tests/labs/offlinekit.py). The two files stay apart: CI runs the Kubernetes
labs with the chart checks and the AWS labs with the Terraform job."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shopfloor.labs import offline
from tests.labs.offlinekit import REPO, LabRun, layer_labs, run_labs, tree_digest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`offline_lab`: each lab of the test class's LAYER."""
    if "offline_lab" in metafunc.fixturenames:
        metafunc.parametrize("offline_lab", layer_labs(str(getattr(metafunc.cls, "LAYER", ""))))


@pytest.fixture(scope="class")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The digest of the repository's files as the labs copy them (taken before the labs run)."""
    folder = tmp_path_factory.mktemp("pristine")
    offline.copy_tracked(REPO, folder)
    return tree_digest(folder)


@pytest.fixture(scope="class")
def runs(
    request: pytest.FixtureRequest,
    pristine: str,
    tmp_path_factory: pytest.TempPathFactory,
    missing_dependency: Callable[[str, str], None],
) -> dict[str, LabRun]:
    """Every lab of the test class's LAYER, broken and solved."""
    layer = str(request.cls.LAYER)
    return run_labs(
        layer_labs(layer), tmp_path_factory.mktemp(f"{layer}-labs"), lambda message: missing_dependency(message, "")
    )
