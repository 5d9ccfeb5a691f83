"""Every command the workflows and the CodeBuild buildspec run is real: each `scripts/...` file
exists, is executable and is run by some test; each `make X` target exists (make itself says so);
each `shopfloor <cmd>` is a subcommand of the repo CLI. The same checks refuse broken copies."""

from __future__ import annotations

import re
import shutil
import stat
from pathlib import Path

import pytest

from tests.ci.cikit import (
    DEPLOY,
    WRAPPER_CALL,
    all_blocks,
    make_target_problems,
    script_problems,
    shopfloor_command_problems,
    suite_sources,
)


@pytest.fixture(scope="module")
def blocks() -> list[tuple[str, str]]:
    found = all_blocks()
    assert len(found) >= 30  # the parser does see the run blocks
    return found


def test_the_blocks_call_the_deploy_wrappers_the_make_targets_and_the_cli(blocks: list[tuple[str, str]]) -> None:
    text = "\n".join(block for _, block in blocks)
    for expected in ("scripts/deploy/bump.sh", "scripts/deploy/promote.sh", "scripts/deploy/build-images.sh"):
        assert expected in text
    for expected in ("make kind-up", "make kind-deploy", "make kind-smoke", "make venv", "make lint"):
        assert expected in text
    assert "shopfloor changed" in text


def test_every_script_a_block_runs_exists_is_executable_and_is_tested(blocks: list[tuple[str, str]]) -> None:
    exercised = suite_sources(exclude=Path(__file__))
    problems = [p for where, block in blocks for p in script_problems(block, where, exercised)]
    assert problems == []


def test_every_make_target_a_block_runs_exists(blocks: list[tuple[str, str]]) -> None:
    problems = [p for where, block in blocks for p in make_target_problems(block, where)]
    assert problems == []


def test_every_shopfloor_command_a_block_or_wrapper_runs_exists(blocks: list[tuple[str, str]]) -> None:
    problems = [p for where, block in blocks for p in shopfloor_command_problems(block, where)]
    for wrapper in sorted(DEPLOY.glob("*.sh")):
        for call in WRAPPER_CALL.findall(wrapper.read_text(encoding="utf-8")):
            problems += shopfloor_command_problems(f"shopfloor {call}", wrapper.name)
    assert problems == []


def test_missing_unexecutable_and_untested_scripts_are_refused(tmp_path: Path) -> None:
    (tmp_path / "scripts" / "deploy").mkdir(parents=True)
    for name in ("bump.sh", "lazy.sh"):
        shutil.copy(DEPLOY / "bump.sh", tmp_path / "scripts" / "deploy" / name)
    lazy = tmp_path / "scripts" / "deploy" / "lazy.sh"
    lazy.chmod(lazy.stat().st_mode & ~(stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    block = "scripts/deploy/gone.sh --env dev\nscripts/deploy/lazy.sh\nscripts/deploy/bump.sh --env dev"
    exercised = 'run("scripts/deploy/lazy.sh")'  # bump.sh is run by no test in this broken world
    assert script_problems(block, "broken", exercised, root=tmp_path) == [
        "broken: scripts/deploy/gone.sh does not exist",
        "broken: scripts/deploy/lazy.sh is not executable",
        "broken: scripts/deploy/bump.sh is run by no test",
    ]


def test_a_missing_make_target_is_refused() -> None:
    problems = make_target_problems("make venv PYTHON=python3\nmake kind-upp && make lint", "broken")
    assert len(problems) == 1
    assert re.search(r"broken: `make kind-upp`: .*No rule to make target", problems[0])


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (".venv/bin/shopfloor chnaged --base A --head B", "`shopfloor chnaged` is not a subcommand"),
        ("shopfloor images bulid catalog", "`shopfloor images bulid` is not a subcommand"),
        ("x=1; shopfloor promot --from dev", "`shopfloor promot` is not a subcommand"),
    ],
)
def test_an_unknown_shopfloor_command_is_refused(block: str, expected: str) -> None:
    problems = shopfloor_command_problems(block, "broken")
    assert len(problems) == 1
    assert expected in problems[0]


def test_names_that_merely_contain_shopfloor_are_not_commands() -> None:
    lines = ["kubectl -n shopfloor get pods", "role/shopfloor-dev-github-push", 'repo="shopfloor/shopfloor"']
    lines += ["ECR_NAMESPACE: shopfloor", "next: line", "git config user.name shopfloor-codebuild"]
    assert shopfloor_command_problems("\n".join(lines), "fine") == []
