"""Session fixtures of the chaos tests: the environments the Chaos Mesh objects target, rendered
once with Helm's engine (shopfloor.delivery.render), as Argo CD would apply them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shopfloor.delivery.render import ChartSet, RenderedEnvironment, render_environment
from tests.chaos.meshkit import REPO, load_objects


@pytest.fixture(scope="session")
def rendered() -> Iterator[dict[str, RenderedEnvironment]]:
    """Every environment a Chaos Mesh object names, by name."""
    wanted = sorted({environment for mesh_object in load_objects() for environment in mesh_object.environments})
    with ChartSet(REPO) as charts:
        yield {environment: render_environment(charts, environment) for environment in wanted}
