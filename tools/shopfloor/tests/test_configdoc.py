from __future__ import annotations

from pathlib import Path

import pytest

from shopfloor.cli import main
from shopfloor.docs.config_table import BEGIN_MARK, END_MARK, config_table, replace_table
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
