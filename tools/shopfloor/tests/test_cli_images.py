"""`shopfloor changed`, which images a change rebuilds and bumps, on real git repositories; and
`shopfloor images build`'s refusals (the builds themselves run in tests/images).

The `changed` tests copy this repository's image inputs (Dockerfiles, pyprojects, sources, locks)
into a fresh repository, commit, change one thing, commit again and ask the CLI what changed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from shopfloor.cli import main
from shopfloor.delivery.changed import services_touched
from shopfloor.delivery.images import image_services
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)
SERVICES = ["api-gateway", "catalog", "frontend", "orders"]


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=Images Test", "-c", "user.email=images@test.invalid", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "tests", "*.pyc")
    for relative in ["apps", "libs/shopfloor-common", "requirements", "docs"]:
        shutil.copytree(REPO / relative, root / relative, ignore=ignore)
    shutil.copy(REPO / ".dockerignore", root / ".dockerignore")
    (root / "apps" / "catalog" / "tests").mkdir()
    (root / "apps" / "catalog" / "tests" / "test_x.py").write_text("def test_x() -> None: ...\n")
    git(root.parent, "init", "--quiet", "--initial-branch=main", str(root))
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "base")
    return root


def change(repo: Path, relative: str, text: str = "# changed\n") -> str:
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(text)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", f"change {relative}")
    return git(repo, "rev-parse", "HEAD")


def changed(repo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["--repo", str(repo), "changed", *args])
    assert exit_info.value.code == 0, capsys.readouterr().err
    result: list[str] = json.loads(capsys.readouterr().out)
    return result


def test_every_service_with_a_dockerfile_has_an_image() -> None:
    assert image_services(REPO) == SERVICES


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("apps/catalog/src/catalog/app.py", ["catalog"]),
        ("apps/orders/pyproject.toml", ["orders"]),
        ("apps/api-gateway/Dockerfile", ["api-gateway"]),
        ("requirements/images/frontend.txt", ["frontend"]),
        ("libs/shopfloor-common/src/shopfloor_common/client.py", SERVICES),
        ("requirements/images/build.txt", SERVICES),
        (".dockerignore", SERVICES),
        ("apps/catalog/tests/test_x.py", []),
        ("docs/architecture.md", []),
        ("requirements/dev.txt", []),
    ],
)
def test_a_change_rebuilds_exactly_the_images_it_is_part_of(
    repo: Path, capsys: pytest.CaptureFixture[str], relative: str, expected: list[str]
) -> None:
    before = git(repo, "rev-parse", "HEAD")
    after = change(repo, relative)
    assert changed(repo, capsys, "--base", before, "--head", after) == expected


def test_changes_across_several_commits_add_up(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = git(repo, "rev-parse", "HEAD")
    change(repo, "apps/catalog/src/catalog/app.py")
    change(repo, "docs/architecture.md")
    change(repo, "apps/frontend/src/frontend/app.py")
    assert changed(repo, capsys, "--base", before) == ["catalog", "frontend"]


def test_moving_a_file_out_of_a_service_rebuilds_that_service(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = git(repo, "rev-parse", "HEAD")
    git(repo, "mv", "apps/orders/src/orders/settings.py", "docs/settings.py")
    git(repo, "commit", "--quiet", "-m", "move")
    assert changed(repo, capsys, "--base", before) == ["orders"]


def test_a_new_branch_without_a_previous_commit_rebuilds_everything(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert changed(repo, capsys, "--base", "0" * 40) == SERVICES


def test_github_output_gets_the_matrix_and_a_flag(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "github-output"
    output.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    before = git(repo, "rev-parse", "HEAD")
    change(repo, "docs/architecture.md")
    assert changed(repo, capsys, "--base", before, "--github-output") == []
    change(repo, "apps/catalog/src/catalog/app.py")
    assert changed(repo, capsys, "--base", before, "--github-output") == ["catalog"]
    assert output.read_text().splitlines() == [
        "earlier=1",
        "services=[]",
        "any=false",
        'services=["catalog"]',
        "any=true",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "no-such-ref"], "no such commit: 'no-such-ref'"),
        (["--base", "HEAD", "--head", "deadbeef"], "no such commit: 'deadbeef'"),
    ],
)
def test_an_unknown_commit_is_named_and_exits_2(
    repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--repo", str(repo), "changed", *args])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_github_output_without_the_variable_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["--repo", str(repo), "changed", "--base", "HEAD", "--github-output"])
    assert exit_info.value.code == 2
    assert "GITHUB_OUTPUT is not set" in capsys.readouterr().err


def test_services_touched_matches_folders_not_name_prefixes() -> None:
    # apps/catalog-old is not apps/catalog; a folder spec only matches below it.
    assert services_touched(["apps/catalog-old/src/x.py", "apps/catalogue"], SERVICES) == []
    assert services_touched(["libs/shopfloor-common/README.md"], SERVICES) == []


def test_building_an_unknown_service_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--repo", str(REPO), "images", "build", "nosuch", "--engine", "docker"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "nosuch" in err


def test_building_without_the_engine_says_how_to_get_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no podman on PATH
    with pytest.raises(SystemExit) as exit_info:
        main(["--repo", str(REPO), "images", "build", "--engine", "podman", "catalog"])
    assert exit_info.value.code == 2
    assert "podman is not installed (apt-get install podman runc)" in capsys.readouterr().err
