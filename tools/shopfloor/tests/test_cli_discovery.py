"""Which services `shopfloor run` finds, and what it refuses with a message naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopfloor.local.discovery import DiscoveryError, ServiceSpec, discover_services
from shopfloor.repo import find_repo_root


def write_service(repo: Path, name: str, table: str | None) -> None:
    folder = repo / "apps" / name
    folder.mkdir(parents=True)
    text = f'[project]\nname = "{name}"\n'
    if table is not None:
        text += "\n[tool.shopfloor]\n" + table
    (folder / "pyproject.toml").write_text(text)


def test_finds_services_with_a_shopfloor_table(tmp_path: Path) -> None:
    write_service(tmp_path, "catalog", "port = 8081\nmigrate = true\nseed = true\nsettings = 'x:Y'\n")
    write_service(tmp_path, "api-gateway", 'port = 8080\nedge_prefix = "/api"\n')
    write_service(tmp_path, "notes", None)  # no table: not a service the runner starts
    services = discover_services(tmp_path)
    assert services == [
        ServiceSpec("api-gateway", 8080, edge_prefix="/api"),
        ServiceSpec("catalog", 8081, migrate=True, seed=True),
    ]
    assert [s.url_variable for s in services] == ["API_GATEWAY_URL", "CATALOG_URL"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('port = "8081"\n', "port must be an integer"),
        ("port = 70000\n", "port must be an integer"),
        ('port = 8081\nedge_prefix = "api"\n', "edge_prefix must be a path"),
        ('port = 8081\nmigrate = "yes"\n', "migrate must be true or false"),
        ("port = 8081\nseed = 1\n", "seed must be true or false"),
        ('port = 8081\nseed_needs = "catalog"\n', "seed_needs must be a list of service names"),
    ],
)
def test_bad_tables_are_refused_naming_the_file(tmp_path: Path, table: str, message: str) -> None:
    write_service(tmp_path, "catalog", table)
    with pytest.raises(DiscoveryError, match=message) as caught:
        discover_services(tmp_path)
    assert "apps/catalog/pyproject.toml" in str(caught.value)


def test_two_services_on_one_port_or_prefix_are_refused(tmp_path: Path) -> None:
    write_service(tmp_path, "a", "port = 9000\n")
    write_service(tmp_path, "b", "port = 9000\n")
    with pytest.raises(DiscoveryError, match="both want port 9000"):
        discover_services(tmp_path)


def test_two_services_claiming_one_prefix_are_refused(tmp_path: Path) -> None:
    write_service(tmp_path, "a", 'port = 9000\nedge_prefix = "/"\n')
    write_service(tmp_path, "b", 'port = 9001\nedge_prefix = "/"\n')
    with pytest.raises(DiscoveryError, match="both claim edge_prefix /"):
        discover_services(tmp_path)


def test_a_seed_needing_an_unknown_service_is_refused(tmp_path: Path) -> None:
    write_service(tmp_path, "orders", 'port = 9000\nseed = true\nseed_needs = ["catalgo"]\n')
    with pytest.raises(DiscoveryError, match=r"orders: seed_needs names unknown service.*catalgo"):
        discover_services(tmp_path)


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    (tmp_path / "apps" / "broken").mkdir(parents=True)
    (tmp_path / "apps" / "broken" / "pyproject.toml").write_text("[tool.shopfloor\n")
    with pytest.raises(DiscoveryError, match="not valid TOML"):
        discover_services(tmp_path)


def test_repo_root_is_found_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOPFLOOR_REPO", raising=False)
    (tmp_path / "apps").mkdir()
    (tmp_path / "tools" / "shopfloor").mkdir(parents=True)
    deep = tmp_path / "apps" / "x" / "src"
    deep.mkdir(parents=True)
    assert find_repo_root(deep) == tmp_path.resolve()
    monkeypatch.setenv("SHOPFLOOR_REPO", str(deep))
    assert find_repo_root(tmp_path) == deep.resolve()
