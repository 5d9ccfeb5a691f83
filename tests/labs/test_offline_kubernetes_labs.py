"""The Kubernetes offline labs, each run for real: the break makes the chart checks
(`python -m tests.charts.check`) fail with the lab's lesson, the reference solution makes them pass
and leaves exactly the repository's files (tests/labs/offlinekit.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shopfloor.labs import offline
from tests.labs.offlinekit import REPO, LabRun, lab_documents, run_labs, tree_digest

LAYER = "kubernetes"
LABS = sorted(lab for lab, document in lab_documents().items() if document["layer"] == LAYER)
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The digest of the repository's files as the labs copy them (taken before the labs run)."""
    folder = tmp_path_factory.mktemp("pristine")
    offline.copy_tracked(REPO, folder)
    return tree_digest(folder)


@pytest.fixture(scope="module")
def runs(
    pristine: str, tmp_path_factory: pytest.TempPathFactory, missing_dependency: Callable[[str, str], None]
) -> dict[str, LabRun]:
    return run_labs(LABS, tmp_path_factory.mktemp(f"{LAYER}-labs"), lambda message: missing_dependency(message, ""))


def test_there_are_labs_of_this_layer() -> None:
    assert len(LABS) >= 4, LABS


@pytest.mark.parametrize("lab", LABS)
def test_the_broken_workspace_fails_with_the_lesson(runs: dict[str, LabRun], lab: str) -> None:
    run = runs[lab]
    assert not run.broken.ok, run.broken.output
    assert lab_documents()[lab]["offline"]["expect"] in run.broken.output, run.broken.output


@pytest.mark.parametrize("lab", LABS)
def test_the_reference_solution_passes_and_restores_the_repository(
    runs: dict[str, LabRun], pristine: str, lab: str
) -> None:
    run = runs[lab]
    assert run.solved.ok, run.solved.output
    assert run.solved_digest == pristine, f"{lab}: the solution does not leave exactly the repository's files"


@pytest.mark.parametrize("lab", LABS)
def test_the_output_the_readme_shows_is_what_the_check_prints(runs: dict[str, LabRun], lab: str) -> None:
    readme = (REPO / "labs" / lab / "README.md").read_text(encoding="utf-8")
    shown = [line.strip() for line in readme.splitlines() if line.strip().startswith("prod: ")]
    assert shown, f"{lab}: the README shows no output of the chart checks"
    for line in shown:
        assert line in runs[lab].broken.output, line


def test_a_check_that_finds_nothing_says_so(runs: dict[str, LabRun]) -> None:
    assert "charts fine: prod" in runs[LABS[0]].solved.output, runs[LABS[0]].solved.output
