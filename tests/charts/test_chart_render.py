"""Every release x every environment renders with Helm's engine and lints strictly; the layout rules
that keep environments small hold (one service chart, each service's defaults in one file); `make
render` writes what Argo CD applies."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfloor.cli import main as shopfloor_main
from shopfloor.delivery.render import (
    LIBRARY_CHART,
    SERVICE_CHART,
    ChartSet,
    RenderError,
    environment_releases,
    environment_values,
    environments,
    load_values,
    merge_values,
    service_defaults,
    split_documents,
)
from shopfloor.local.discovery import discover_services
from tests.charts.chartkit import DATA_CHARTS, ENVIRONMENTS, REPO, SERVICES, Renders

RELEASES = (*DATA_CHARTS, *SERVICES)


def test_the_repo_has_the_environments_the_tests_cover() -> None:
    assert environments(REPO) == sorted(ENVIRONMENTS)
    assert SERVICES, "no service under apps/ has a [tool.shopfloor] table"
    assert DATA_CHARTS, "no data-store chart under charts/"


def test_each_service_has_its_defaults_and_each_defaults_file_a_service() -> None:
    files = sorted(p.stem for p in (REPO / "charts" / SERVICE_CHART / "services").glob("*.yaml"))
    assert files == sorted(SERVICES)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_releases_every_service_and_data_store(environment: str) -> None:
    releases = {r.name: r.chart for r in environment_releases(REPO, environment)}
    assert releases == {**dict.fromkeys(SERVICES, SERVICE_CHART), **{d: d for d in DATA_CHARTS}}


def test_each_service_listens_on_the_port_of_its_tool_shopfloor_table() -> None:
    for service in discover_services(REPO):
        values = yaml.safe_load(service_defaults(REPO, service.name).read_text())
        assert values["port"] == service.port, f"{service_defaults(REPO, service.name)}: port != [tool.shopfloor]"


def test_the_deploy_order_puts_each_service_after_those_it_calls() -> None:
    order = [r.name for r in environment_releases(REPO, "prod")]
    assert order[: len(DATA_CHARTS)] == sorted(DATA_CHARTS)
    assert order.index("catalog") < order.index("orders") < order.index("api-gateway")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_renders(renders: Renders, environment: str) -> None:
    rendered = renders(environment)
    assert set(rendered.releases) == set(RELEASES)
    for name in RELEASES:
        assert rendered.releases[name].manifests, f"{environment}/{name} rendered nothing"
        assert rendered.releases[name].notes, f"{environment}/{name} has no NOTES"
    names = [manifest.ref for manifest in rendered.manifests]
    assert len(names) == len(set(names)), f"two objects share a kind and name: {names}"


@pytest.mark.parametrize("name", RELEASES)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_release_lints_strictly(chart_set: ChartSet, name: str, environment: str) -> None:
    chart = SERVICE_CHART if name in SERVICES else name
    assert chart_set.lint(chart, environment_values(REPO, environment, name)) == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_defaults_file_is_complete_without_an_environment(chart_set: ChartSet, service: str) -> None:
    """charts/service leaves port, image repository, Secret and database names to the service's file."""
    assert chart_set.lint(SERVICE_CHART, load_values([service_defaults(REPO, service)])) == []


def test_the_service_chart_refuses_to_render_without_a_service(chart_set: ChartSet) -> None:
    problems = chart_set.lint(SERVICE_CHART, {})
    assert any("missing property 'port'" in problem for problem in problems), problems


def test_library_chart_lints_strictly(chart_set: ChartSet) -> None:
    assert chart_set.lint(LIBRARY_CHART, {}) == []


def test_lint_reports_a_broken_value(chart_set: ChartSet) -> None:
    values = merge_values(environment_values(REPO, "local", "catalog"), {"replicas": 1})
    problems = chart_set.lint(SERVICE_CHART, values)
    assert any("/replicas" in problem for problem in problems), problems


def _layout_copy(tmp_path: Path) -> Path:
    for folder in ("charts", "environments"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path


def test_a_folder_that_is_neither_a_service_nor_a_data_store_is_named(tmp_path: Path) -> None:
    repo = _layout_copy(tmp_path)
    (repo / "environments" / "dev" / "memcached").mkdir()
    (repo / "environments" / "dev" / "memcached" / "values.yaml").write_text("{}\n")
    with pytest.raises(RenderError, match="environments/dev/memcached: neither a service"):
        environment_releases(repo, "dev")


def test_a_service_without_its_defaults_is_named(tmp_path: Path) -> None:
    repo = _layout_copy(tmp_path)
    service_defaults(repo, "orders").unlink()
    with pytest.raises(RenderError, match=re.escape("charts/service/services/orders.yaml are missing")):
        environment_releases(repo, "staging")


def test_a_data_store_folder_with_an_image_file_is_refused(tmp_path: Path) -> None:
    repo = _layout_copy(tmp_path)
    shutil.copy(repo / "environments" / "dev" / "catalog" / "image.yaml", repo / "environments" / "dev" / "redis")
    with pytest.raises(RenderError, match=re.escape("environments/dev/redis: has image.yaml")):
        environment_releases(repo, "dev")


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


@pytest.mark.parametrize("chart", [SERVICE_CHART, *DATA_CHARTS])
def test_schema_refuses_unknown_keys_and_documents_every_value(chart: str) -> None:
    schema = json.loads((REPO / "charts" / chart / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert _objects_without_closed_properties(schema) == []
    undocumented = [
        key for key, sub in schema["properties"].items() if "description" not in sub and "properties" not in sub
    ]
    assert undocumented == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
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
