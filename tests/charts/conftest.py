"""Session fixtures of the chart tests: the charts are dependency-built and every environment
rendered once per session; checkov starts on the renders at once and runs while the other tests do."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from shopfloor.delivery.render import ChartSet, RenderError, write_rendered
from tests.charts.chartkit import ENVIRONMENTS, REPO, Renders
from tests.checkovkit import CHECKOV, checkov_command


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The checkov test waits for the scan started with the first render: run it last, so the
    # other chart tests use the time the scan takes.
    items.sort(key=lambda item: item.path.name == "test_chart_checkov.py")


@pytest.fixture(scope="session")
def chart_set() -> Iterator[ChartSet]:
    with ChartSet(REPO) as charts:
        yield charts


@pytest.fixture(scope="session")
def renders(
    chart_set: ChartSet, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Renders]:
    cache = Renders(charts=chart_set, out_dir=tmp_path_factory.mktemp("rendered"))
    for environment in ENVIRONMENTS:
        try:
            write_rendered(cache(environment), cache.out_dir)
        except RenderError:
            continue  # test_chart_render reports it, naming the environment
    scans = any(item.path.name == "test_chart_checkov.py" for item in request.session.items)
    if scans and CHECKOV.exists():
        # checkov takes ~15 s to start and scan; it overlaps the rest of the suite this way.
        cache.checkov = subprocess.Popen(
            [*checkov_command("kubernetes", "--directory", str(cache.out_dir)), "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    yield cache
    if cache.checkov is not None and cache.checkov.poll() is None:
        cache.checkov.kill()
        cache.checkov.wait()


@pytest.fixture(scope="session")
def checkov_results(renders: Renders) -> list[dict[str, Any]] | None:
    """checkov's report on every rendered environment; None when its virtualenv is missing."""
    if renders.checkov is None:
        return None
    output, _ = renders.checkov.communicate(timeout=240)
    report = json.loads(output)
    return report if isinstance(report, list) else [report]
