"""`shopfloor changed`, which images a change rebuilds and bumps, on real git repositories; the
images and their inputs as read from the Dockerfile; and `shopfloor images build`'s refusals (the
builds themselves run in tests/images).

The `changed` tests copy this repository's image inputs (the Dockerfile, pyprojects, sources, locks)
into a fresh repository, commit, change one thing, commit again and ask the CLI what changed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from shopfloor.cli import main
from shopfloor.delivery.changed import images_touched
from shopfloor.delivery.images import ImagesError, ImageSpec, image_inputs, image_names, image_specs
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)
SERVICES = ["api-gateway", "catalog", "frontend", "orders"]
IMAGES = [*SERVICES, "tools"]


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=Images Test", "-c", "user.email=images@test.invalid", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "tests", "*.pyc")
    for relative in ["apps", "libs/shopfloor-common", "tools/shopfloor", "requirements", "docs"]:
        shutil.copytree(REPO / relative, root / relative, ignore=ignore)
    for relative in [".dockerignore", "Dockerfile"]:
        shutil.copy(REPO / relative, root / relative)
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


def test_every_service_under_apps_has_an_image_and_so_has_the_cli() -> None:
    assert image_names(REPO) == IMAGES
    specs = {spec.name: spec for spec in image_specs(REPO)}
    assert specs["catalog"] == ImageSpec("catalog", "service", (("SERVICE", "catalog"), ("PORT", "8081")))
    assert specs["tools"] == ImageSpec("tools", "tools")
    assert specs["frontend"].matrix_entry() == {
        "name": "frontend",
        "target": "service",
        "build_args": "SERVICE=frontend\nPORT=3000\n",
    }


def test_the_inputs_of_an_image_are_what_its_dockerfile_stages_copy() -> None:
    specs = {spec.name: spec for spec in image_specs(REPO)}
    assert image_inputs(REPO, specs["orders"]) == (
        ".dockerignore",
        "Dockerfile",
        "apps/orders/pyproject.toml",
        "apps/orders/src",
        "libs/shopfloor-common/pyproject.toml",
        "libs/shopfloor-common/src",
        "requirements/images/build.txt",
        "requirements/images/orders.txt",
    )
    assert image_inputs(REPO, specs["tools"]) == (
        ".dockerignore",
        "Dockerfile",
        "requirements/images/build.txt",
        "tools/shopfloor/pyproject.toml",
        "tools/shopfloor/src",
    )


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        # A build argument the image does not set.
        (("apps/${SERVICE}/src apps", "apps/${SERVICE}/${FLAVOUR}/src apps"), "uses ${FLAVOUR}, which is not set"),
        # The target stage renamed away.
        (("FROM runtime AS tools", "FROM runtime AS cli"), "no stage 'tools'"),
        # A copy from a stage that does not exist.
        (("--from=tools-build", "--from=tool-build"), "copies from 'tool-build', which is no stage"),
        # Something this reader would have to guess at.
        (("COPY tools/shopfloor/src tools", "COPY tools/*/src tools"), "wildcard"),
    ],
)
def test_a_dockerfile_the_reader_cannot_follow_is_refused_by_line(
    tmp_path: Path, breakage: tuple[str, str], message: str
) -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    old, new = breakage
    assert old in text
    (tmp_path / "apps" / "catalog").mkdir(parents=True)
    shutil.copy(REPO / "apps" / "catalog" / "pyproject.toml", tmp_path / "apps" / "catalog" / "pyproject.toml")
    (tmp_path / "Dockerfile").write_text(text.replace(old, new), encoding="utf-8")
    specs = image_specs(tmp_path)
    assert [spec.name for spec in specs] == ["catalog", "tools"]
    with pytest.raises(ImagesError, match=re.escape(message)):
        [image_inputs(tmp_path, spec) for spec in specs]


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("apps/catalog/src/catalog/app.py", ["catalog"]),
        ("apps/orders/pyproject.toml", ["orders"]),
        ("requirements/images/frontend.txt", ["frontend"]),
        ("libs/shopfloor-common/src/shopfloor_common/client.py", SERVICES),
        ("tools/shopfloor/src/shopfloor/delivery/smoke.py", ["tools"]),
        ("tools/shopfloor/pyproject.toml", ["tools"]),
        ("requirements/images/build.txt", IMAGES),
        ("Dockerfile", IMAGES),
        (".dockerignore", IMAGES),
        ("apps/catalog/tests/test_x.py", []),
        ("tools/shopfloor/tests/test_x.py", []),
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
    assert changed(repo, capsys, "--base", "0" * 40) == IMAGES


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
        "images=[]",
        "matrix=[]",
        "any=false",
        'images=["catalog"]',
        'matrix=[{"name": "catalog", "target": "service", "build_args": "SERVICE=catalog\\nPORT=8081\\n"}]',
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


def test_images_touched_matches_folders_not_name_prefixes() -> None:
    inputs = {spec.name: image_inputs(REPO, spec) for spec in image_specs(REPO)}
    # apps/catalog-old is not apps/catalog; a folder only matches below it.
    assert images_touched(["apps/catalog-old/src/x.py", "apps/catalogue", "apps/catalog/srcx"], inputs) == []
    assert images_touched(["libs/shopfloor-common/README.md", "Dockerfile.old"], inputs) == []
    assert images_touched(["apps/catalog/src"], inputs) == ["catalog"]


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
