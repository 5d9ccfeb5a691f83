from __future__ import annotations

from pathlib import Path

import pytest

from shopfloor.cli import main
from shopfloor.docs.config_table import BEGIN_MARK, END_MARK, config_table, replace_table
from shopfloor.docs.service_readmes import BEGIN_MARK as SERVICE_BEGIN
from shopfloor.docs.service_readmes import END_MARK as SERVICE_END
from shopfloor.docs.service_readmes import readme_updates
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)


def test_readme_configuration_table_is_up_to_date() -> None:
    readme = (REPO / "README.md").read_text()
    assert replace_table(readme, config_table(REPO)) == readme, "run `shopfloor config-table --write`"


def test_table_lists_every_service_variable_with_its_default() -> None:
    table = config_table(REPO)
    assert "| `ADMIN_API_KEY` | catalog, orders | **required** |" in table
    assert "| `CATALOG_URL` | api-gateway, orders |" in table
    port_row = next(line for line in table.splitlines() if line.startswith("| `PORT` |"))
    assert "`8080` (api-gateway)" in port_row
    assert "`8081` (catalog)" in port_row
    assert all(line.count("|") >= 5 for line in table.splitlines())


def test_check_fails_on_a_stale_table(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "tools" / "shopfloor").mkdir(parents=True)
    for app in ("catalog", "api-gateway"):
        (tmp_path / "apps" / app).mkdir()
        (tmp_path / "apps" / app / "pyproject.toml").write_text((REPO / "apps" / app / "pyproject.toml").read_text())
    (tmp_path / "README.md").write_text(f"# x\n{BEGIN_MARK}\n| stale |\n{END_MARK}\n")
    with pytest.raises(SystemExit) as stale:
        main(["--repo", str(tmp_path), "config-table", "--check"])
    assert stale.value.code == 1
    with pytest.raises(SystemExit) as written:
        main(["--repo", str(tmp_path), "config-table", "--write"])
    assert written.value.code == 0
    assert "`CATALOG_URL`" in (tmp_path / "README.md").read_text()


def test_a_readme_without_the_markers_is_named_not_appended_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "tools" / "shopfloor").mkdir(parents=True)
    (tmp_path / "README.md").write_text(f"# x\n{END_MARK}\n{BEGIN_MARK}\n")
    for flag in ("--check", "--write"):
        with pytest.raises(SystemExit) as refused:
            main(["--repo", str(tmp_path), "config-table", flag])
        assert refused.value.code == 2
        assert f"README.md has no generated block `{BEGIN_MARK}`" in capsys.readouterr().err
    assert (tmp_path / "README.md").read_text() == f"# x\n{END_MARK}\n{BEGIN_MARK}\n"


def test_every_service_readme_reference_is_up_to_date() -> None:
    stale = [str(path) for path, (current, updated) in readme_updates(REPO).items() if current != updated]
    assert stale == [], "run `shopfloor service-readmes --write`"


def test_a_service_readme_lists_its_routes_admin_ones_and_its_settings_only() -> None:
    catalog = (REPO / "apps" / "catalog" / "README.md").read_text()
    assert "| POST | `/products` | Create Product | yes |" in catalog
    assert "| GET | `/products/{sku}` | Get Product |  |" in catalog
    assert "| `IMAGE_DIR` |" in catalog
    assert "| `ORDERS_URL` |" not in catalog  # the gateway's setting, not catalog's
    assert "Calls: no other service" in catalog
    assert "Calls: `catalog`" in (REPO / "apps" / "orders" / "README.md").read_text()


def test_service_readmes_check_fails_on_a_stale_or_missing_reference(tmp_path: Path) -> None:
    (tmp_path / "tools" / "shopfloor").mkdir(parents=True)
    (tmp_path / "apps" / "catalog").mkdir(parents=True)
    (tmp_path / "apps" / "catalog" / "pyproject.toml").write_text(
        (REPO / "apps" / "catalog" / "pyproject.toml").read_text()
    )
    readme = tmp_path / "apps" / "catalog" / "README.md"
    readme.write_text(f"# catalog\n{SERVICE_BEGIN}\nstale\n{SERVICE_END}\n")
    with pytest.raises(SystemExit) as stale:
        main(["--repo", str(tmp_path), "service-readmes", "--check"])
    assert stale.value.code == 1
    with pytest.raises(SystemExit) as written:
        main(["--repo", str(tmp_path), "service-readmes", "--write"])
    assert written.value.code == 0
    assert "### Routes" in readme.read_text()
    readme.write_text("# catalog, without the markers\n")
    with pytest.raises(SystemExit) as missing:
        main(["--repo", str(tmp_path), "service-readmes", "--check"])
    assert missing.value.code == 2
