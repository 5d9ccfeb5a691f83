"""The root conftest's xdist scheduler (pytest_xdist_make_scheduler), driven as pytest-xdist drives
it, with two stand-in workers that record what they are sent: whole modules and the shared suites
(terraform, images) each go to one worker, and the lab READMEs' module goes out first, whatever
its number of tests."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
LAB_READMES = [
    "tests/labs/test_lab_docs.py::test_stack_lab_readme_runs[bad-config]",
    "tests/labs/test_lab_docs.py::test_stack_lab_readme_runs[error-release]",
]
COLLECTION = [
    "tests/charts/test_a.py::test_1",
    "tests/charts/test_a.py::test_2",
    "tests/charts/test_a.py::test_3",
    "tests/terraform/test_x.py::test_1",
    "tests/terraform/test_y.py::test_1",
    *LAB_READMES,
]


class Worker:
    """What the scheduler needs of an xdist worker controller: a name, and somewhere to send to."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[list[str]] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.append([COLLECTION[i] for i in indexes])

    def shutdown(self) -> None:
        self.shutting_down = True


def make_scheduler(request: pytest.FixtureRequest) -> Any:
    """The root conftest's hook, taken from the loaded plugin (in importlib mode it is not
    importable by name)."""
    root = str(REPO / "conftest.py")
    for plugin in request.config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) == root:
            config = SimpleNamespace(getvalue=lambda name: ["2*popen"], option=SimpleNamespace(loadscopereorder=True))
            return plugin.pytest_xdist_make_scheduler(config, None)
    raise AssertionError(f"{root} is not loaded")


def test_the_lab_readmes_go_out_first_and_shared_suites_stay_whole(request: pytest.FixtureRequest) -> None:
    scheduler = make_scheduler(request)
    workers = [Worker("gw0"), Worker("gw1")]
    for worker in workers:
        scheduler.add_node(worker)
    for worker in workers:
        scheduler.add_node_collection(worker, COLLECTION)
    scheduler.schedule()

    first, second = workers
    charts = COLLECTION[:3]
    terraform = COLLECTION[3:5]  # two modules, one unit: the shared workspace is set up once
    # xdist alone would hand out the most tests first (charts, then the labs and terraform, two each)
    assert first.sent == [LAB_READMES, terraform]
    assert second.sent == [charts]
