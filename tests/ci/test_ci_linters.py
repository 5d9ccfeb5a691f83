"""actionlint (with shellcheck on every `run:` block) and checkov's GitHub Actions checks over the
workflows, and shellcheck over the CodeBuild buildspec's command blocks; each shown refusing a
deliberately broken copy."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.checkovkit import CHECKOV, INSTALL_HINT, run_checkov
from tests.ci.cikit import (
    BUILDSPEC,
    EXPECTED_WORKFLOWS,
    GITHUB,
    VENV_BIN,
    WORKFLOWS,
    buildspec_blocks,
    load_yaml,
    tool_env,
)

ACTIONLINT = VENV_BIN / "actionlint"
SHELLCHECK = VENV_BIN / "shellcheck"
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(CKV\w+):(.*)")


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", *map(str, paths)],
        capture_output=True,
        text=True,
        env=tool_env(),
        check=False,
        timeout=60,
    )


def checkov(directory: Path) -> list[dict[str, Any]]:
    return run_checkov("github_actions", directory, timeout=120)


def results(report: list[dict[str, Any]], outcome: str) -> list[dict[str, Any]]:
    return [check for part in report for check in part.get("results", {}).get(outcome, [])]


@pytest.fixture(scope="module")
def tools_present() -> bool:
    return ACTIONLINT.exists() and SHELLCHECK.exists()


@pytest.fixture
def linters(tools_present: bool, missing_dependency: Callable[[str, str], None]) -> None:
    if not tools_present:
        missing_dependency(f"actionlint and shellcheck ({VENV_BIN})", "Build the virtualenv: make venv")


@pytest.fixture
def checkov_present(missing_dependency: Callable[[str, str], None]) -> None:
    if not CHECKOV.exists():
        missing_dependency(f"checkov ({CHECKOV})", INSTALL_HINT)


def test_the_expected_workflows_exist() -> None:
    assert {path.stem for path in WORKFLOWS} == EXPECTED_WORKFLOWS


def test_actionlint_passes_every_workflow(linters: None) -> None:
    completed = actionlint(*WORKFLOWS)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        # A job that needs one that does not exist.
        (
            (
                "needs: changes\n    if: needs.changes.outputs.python",
                "needs: chnages\n    if: needs.changes.outputs.python",
            ),
            "chnages",
        ),
        # shellcheck through actionlint: an unquoted expansion in a run block.
        (("for result in $RESULTS; do", "for result in $RESULTS; do\n            cd $HOME"), "SC2086"),
        # An expression on an unknown context.
        (("${{ env.PYTHON_VERSION }}", "${{ enviroment.PYTHON_VERSION }}"), "enviroment"),
    ],
)
def test_actionlint_refuses_a_broken_workflow(
    linters: None, tmp_path: Path, breakage: tuple[str, str], expected: str
) -> None:
    original = (GITHUB / "workflows" / "ci.yml").read_text(encoding="utf-8")
    old, new = breakage
    assert old in original
    broken = tmp_path / "ci.yml"
    broken.write_text(original.replace(old, new), encoding="utf-8")
    completed = actionlint(broken)
    assert completed.returncode == 1, completed.stdout
    assert expected in completed.stdout


def test_shellcheck_passes_the_buildspec_blocks(linters: None, tmp_path: Path) -> None:
    problems = shellcheck_buildspec(load_yaml(BUILDSPEC), tmp_path)
    assert problems == []


def test_shellcheck_refuses_a_broken_buildspec_block(linters: None, tmp_path: Path) -> None:
    spec = load_yaml(BUILDSPEC)
    spec["phases"]["build"]["commands"].append("for service in $(cat services.json); do echo $service; done")
    problems = shellcheck_buildspec(spec, tmp_path)
    assert len(problems) == 1
    assert "SC2086" in problems[0]


def shellcheck_buildspec(spec: dict[str, Any], tmp_path: Path) -> list[str]:
    """Each command of a phase runs in one bash shell (buildspec `env.shell: bash`)."""
    assert spec["env"]["shell"] == "bash"
    problems = []
    for where, block in buildspec_blocks(spec, "buildspec"):
        script = tmp_path / "block.sh"
        script.write_text("#!/usr/bin/env bash\n" + block + "\n", encoding="utf-8")
        completed = subprocess.run(
            [str(SHELLCHECK), "--format=gcc", str(script)], capture_output=True, text=True, check=False
        )
        if completed.returncode != 0:
            problems.append(f"{where}: {completed.stdout.strip()}")
    return problems


@pytest.fixture(scope="module")
def checkov_real() -> list[dict[str, Any]] | None:
    return checkov(GITHUB) if CHECKOV.exists() else None


@pytest.fixture(scope="module")
def checkov_broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]] | None]:
    """One checkov run over deliberately broken copies: each file breaks one thing."""
    if not CHECKOV.exists():
        yield None
        return
    # checkov's GitHub Actions framework reads only files under .github/workflows/.
    root = tmp_path_factory.mktemp("broken") / ".github"
    workflows = root / "workflows"
    workflows.mkdir(parents=True)
    ci = (GITHUB / "workflows" / "ci.yml").read_text(encoding="utf-8")
    # Write access for everything, at the top.
    (workflows / "write-all.yml").write_text(ci.replace("permissions: {}\n", "permissions: write-all\n", 1))
    # A pull request's title pasted into a shell.
    (workflows / "injection.yml").write_text(
        ci.replace('echo "results: $RESULTS"', 'echo "${{ github.event.pull_request.title }}"')
    )
    # Every inline skip removed: each skipped check must then fail, or the skip is stale.
    for path in WORKFLOWS:
        text = path.read_text(encoding="utf-8")
        if SKIP_COMMENT.search(text):
            (workflows / f"unskipped-{path.name}").write_text(
                "\n".join(line for line in text.splitlines() if not SKIP_COMMENT.search(line)) + "\n"
            )
    shutil.copy(GITHUB / "dependabot.yml", root / "dependabot.yml")
    yield checkov(root)


def test_checkov_finds_nothing_unexplained(checkov_present: None, checkov_real: list[dict[str, Any]] | None) -> None:
    assert checkov_real is not None
    assert all(part["summary"]["parsing_errors"] == 0 for part in checkov_real)
    # checkov drops a workflow it cannot read without a parsing error (e.g. an expression as
    # cancel-in-progress): every workflow must show up in its results.
    scanned = {
        Path(c["file_path"]).name
        for outcome in ("passed_checks", "failed_checks")
        for c in results(checkov_real, outcome)
    }
    assert scanned == {path.name for path in WORKFLOWS}
    failed = [f"{c['check_id']} {c['file_path']} {c['check_name']}" for c in results(checkov_real, "failed_checks")]
    assert failed == []


def test_every_checkov_skip_is_explained_and_still_needed(
    checkov_present: None,
    checkov_real: list[dict[str, Any]] | None,
    checkov_broken: list[dict[str, Any]] | None,
) -> None:
    assert checkov_real is not None
    assert checkov_broken is not None
    skipped = results(checkov_real, "skipped_checks")
    written = [
        (path.name, match.group(1), match.group(2).strip())
        for path in WORKFLOWS
        for match in SKIP_COMMENT.finditer(path.read_text(encoding="utf-8"))
    ]
    assert len(skipped) == len(written)
    for _, check_id, reason in written:
        assert len(reason.split()) >= 8, f"{check_id}: give the reason, not a label"
    failed_unskipped = {
        (Path(c["file_path"]).name.removeprefix("unskipped-"), c["check_id"])
        for c in results(checkov_broken, "failed_checks")
        if Path(c["file_path"]).name.startswith("unskipped-")
    }
    assert {(name, check_id) for name, check_id, _ in written} <= failed_unskipped


def test_checkov_refuses_broken_workflows(checkov_present: None, checkov_broken: list[dict[str, Any]] | None) -> None:
    assert checkov_broken is not None
    failed = {(Path(c["file_path"]).name, c["check_id"]) for c in results(checkov_broken, "failed_checks")}
    assert ("write-all.yml", "CKV2_GHA_1") in failed
    assert ("injection.yml", "CKV_GHA_2") in failed
