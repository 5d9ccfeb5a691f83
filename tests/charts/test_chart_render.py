"""Every chart x every environment renders with Helm's engine and lints strictly; the layout rules
that keep environments small and the charts alike hold; `make render` writes what Argo CD applies."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfloor.cli import main as shopfloor_main
from shopfloor.delivery.render import (
    LIBRARY_CHART,
    ChartSet,
    application_charts,
    environment_charts,
    environment_values,
    environments,
    split_documents,
)
from tests.charts.chartkit import DATA_CHARTS, ENVIRONMENTS, REPO, SERVICE_CHARTS, Renders

ALL_CHARTS = (*DATA_CHARTS, *SERVICE_CHARTS)


def test_the_repo_has_the_environments_and_charts_the_tests_cover() -> None:
    assert environments(REPO) == sorted(ENVIRONMENTS)
    assert sorted(application_charts(REPO)) == sorted(ALL_CHARTS)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_deploys_every_chart(environment: str) -> None:
    assert sorted(environment_charts(REPO, environment)) == sorted(ALL_CHARTS)


def test_every_service_under_apps_has_a_chart_on_its_port() -> None:
    for pyproject in sorted(REPO.glob("apps/*/pyproject.toml")):
        table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("shopfloor")
        if table is None:
            continue
        name = pyproject.parent.name
        chart = REPO / "charts" / name
        assert (chart / "Chart.yaml").is_file(), f"apps/{name} has no chart under charts/{name}"
        values = yaml.safe_load((chart / "values.yaml").read_text())
        assert values["port"] == table["port"], (
            f"charts/{name} port {values['port']} != [tool.shopfloor] {table['port']}"
        )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_renders(renders: Renders, environment: str) -> None:
    rendered = renders(environment)
    for chart in ALL_CHARTS:
        assert rendered.charts[chart].manifests, f"{environment}/{chart} rendered nothing"
        assert rendered.charts[chart].notes, f"{environment}/{chart} has no NOTES"
    names = [manifest.ref for manifest in rendered.manifests]
    assert len(names) == len(set(names)), f"two objects share a kind and name: {names}"


@pytest.mark.parametrize("chart", ALL_CHARTS)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_chart_lints_strictly(chart_set: ChartSet, chart: str, environment: str) -> None:
    assert chart_set.lint(chart, environment_values(REPO, environment, chart)) == []


def test_library_chart_lints_strictly(chart_set: ChartSet) -> None:
    assert chart_set.lint(LIBRARY_CHART, {}) == []


def test_lint_reports_a_broken_value(chart_set: ChartSet) -> None:
    problems = chart_set.lint("catalog", {"replicas": 1})
    assert any("/replicas" in problem for problem in problems), problems


def test_service_charts_share_one_layout() -> None:
    """One schema and one set of templates: a service differs from another only in its values."""
    canonical = (REPO / "charts" / LIBRARY_CHART / "service-values.schema.json").read_text()
    first = SERVICE_CHARTS[0]
    reference = {p.name: p.read_text() for p in (REPO / "charts" / first / "templates").iterdir()}
    for chart in SERVICE_CHARTS:
        folder = REPO / "charts" / chart
        assert (folder / "values.schema.json").read_text() == canonical, (
            f"charts/{chart}/values.schema.json differs from charts/{LIBRARY_CHART}/service-values.schema.json: copy it"
        )
        templates = {p.name: p.read_text() for p in (folder / "templates").iterdir()}
        assert templates == reference, f"charts/{chart}/templates differ from charts/{first}/templates"


def _objects_without_closed_properties(schema: dict[str, Any], path: str = "") -> list[str]:
    found = []
    if schema.get("type") == "object" and "properties" in schema and schema.get("additionalProperties") is not False:
        found.append(path or "/")
    for key, sub in schema.get("properties", {}).items():
        found += _objects_without_closed_properties(sub, f"{path}/{key}")
    for keyword in ("items", "additionalProperties"):
        if isinstance(schema.get(keyword), dict):
            found += _objects_without_closed_properties(schema[keyword], f"{path}/{keyword}")
    return found


@pytest.mark.parametrize("chart", ALL_CHARTS)
def test_schema_refuses_unknown_keys_and_documents_every_value(chart: str) -> None:
    schema = json.loads((REPO / "charts" / chart / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert _objects_without_closed_properties(schema) == []
    undocumented = [
        key for key, sub in schema["properties"].items() if "description" not in sub and "properties" not in sub
    ]
    assert undocumented == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICE_CHARTS)
def test_image_reference_lives_alone_in_its_file(environment: str, service: str) -> None:
    """CI bumps, and a promotion copies, one small file per service: the image reference and nothing else."""
    folder = REPO / "environments" / environment / service
    image_file = yaml.safe_load((folder / "image.yaml").read_text())
    assert list(image_file) == ["image"]
    assert sorted(image_file["image"]) == ["digest", "repository", "tag"]
    values = yaml.safe_load((folder / "values.yaml").read_text()) or {}
    assert "image" not in values, f"environments/{environment}/{service}/values.yaml sets image: keep it in image.yaml"


def test_make_render_writes_every_object_of_an_environment(renders: Renders, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        shopfloor_main(["--repo", str(REPO), "render", "--env", "prod", "--out", str(tmp_path)])
    assert exit_info.value.code == 0
    text = (tmp_path / "prod.yaml").read_text()
    written = split_documents("prod", "prod.yaml", text)
    assert [m.ref for m in written] == [m.ref for m in renders("prod").manifests]
    # A reviewer sees where each object comes from.
    assert text.count("# Source: charts/") == len(written)


def test_render_names_an_unknown_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        shopfloor_main(["--repo", str(REPO), "render", "--env", "moon"])
    assert exit_info.value.code == 1
    assert "moon" in capsys.readouterr().err
