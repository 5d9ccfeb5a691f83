"""The offline labs (labs/*/lab.yaml with runs_on: offline) as the tests drive them: each lab is
prepared in a scratch workspace, verified broken (the verification must fail and print the lab's
`expect`, the lesson), solved with its reference patch and verified again (must pass).

A verification is a pure function of the commands and the workspace's files, so a result is reused
when the same commands run on a byte-identical tree (a solved workspace is the pristine repository,
checked by digest): the four chart labs then pay for one passing run, not four. Everything else
really runs: the chart checks, `terraform init`/`test` against the local provider mirror (one plugin
cache shared by the labs) and checkov."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfloor.labs import offline
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)
LABS = REPO / "labs"
# Files a verification writes into the workspace (terraform's init, Python's caches, the CLI config):
# not part of what is verified.
_WRITTEN = (".terraform", ".terraform.lock.hcl", "__pycache__", offline.TERRAFORM_CONFIG, ".pytest_cache")


def lab_documents() -> dict[str, dict[str, Any]]:
    documents = {}
    for path in sorted(LABS.glob("*/lab.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and document.get("runs_on") == "offline":
            documents[path.parent.name] = document
    return documents


def layer_labs(layer: str) -> list[str]:
    """The offline labs of one layer (aws, kubernetes), by id."""
    return sorted(lab for lab, document in lab_documents().items() if document["layer"] == layer)


def tree_digest(workspace: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(workspace.rglob("*")):
        relative = path.relative_to(workspace)
        if not path.is_file() or any(part in _WRITTEN for part in relative.parts):
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass
class LabRun:
    lab: str
    broken: offline.OfflineCheck
    solved: offline.OfflineCheck
    solved_digest: str


class Verifier:
    """offline.verify, memoised on (commands, tree digest); every miss really runs."""

    def __init__(self) -> None:
        self._results: dict[tuple[tuple[str, ...], str], offline.OfflineCheck] = {}
        self._lock = threading.Lock()
        self.runs = 0

    def __call__(self, lab_dir: Path, section: Mapping[str, Any], workspace: Path) -> offline.OfflineCheck:
        key = (tuple(section["verify"]), tree_digest(workspace))
        with self._lock:
            if key in self._results:
                return self._results[key]
        result = offline.verify(lab_dir, section, workspace)
        with self._lock:
            self.runs += 1
            self._results[key] = result
        return result


def run_labs(labs: list[str], folder: Path, on_missing: Callable[[str], None]) -> dict[str, LabRun]:
    """Every lab: prepare, verify (broken), apply the solution, verify (solved); two at a time."""
    documents = lab_documents()
    os.environ.setdefault(offline.PLUGIN_CACHE_VARIABLE, str(folder / "terraform-plugin-cache"))
    verifier = Verifier()

    def run(lab: str) -> LabRun:
        section = documents[lab]["offline"]
        workspace = folder / lab
        offline.prepare(REPO, LABS / lab, section, workspace)
        try:
            broken = verifier(LABS / lab, section, workspace)
        except offline.MissingTool as exc:
            on_missing(str(exc))
            raise
        offline.apply_solution(LABS / lab, section, workspace)
        return LabRun(lab, broken, verifier(LABS / lab, section, workspace), tree_digest(workspace))

    # The first lab runs alone: its `terraform init` fills the shared plugin cache, which two inits
    # filling it at once would race on ("failed to create directory ... file exists"); the others
    # then only link the provider, two labs at a time.
    first = {labs[0]: run(labs[0])} if labs else {}
    with ThreadPoolExecutor(2) as pool:
        return first | dict(zip(labs[1:], pool.map(run, labs[1:]), strict=True))


class OfflineLayerTests:
    """What every offline lab of a layer must do. test_offline_<layer>_labs.py subclasses it as
    `Test<Layer>Labs` with LAYER set; tests/labs/conftest.py runs the layer's labs once (`runs`,
    `pristine`) and gives `offline_lab` each of them."""

    LAYER = ""

    def test_there_are_labs_of_this_layer(self) -> None:
        assert len(layer_labs(self.LAYER)) >= 4, self.LAYER

    def test_the_broken_workspace_fails_with_the_lesson(self, runs: dict[str, LabRun], offline_lab: str) -> None:
        run = runs[offline_lab]
        assert not run.broken.ok, run.broken.output
        assert lab_documents()[offline_lab]["offline"]["expect"] in run.broken.output, run.broken.output

    def test_the_reference_solution_passes_and_restores_the_repository(
        self, runs: dict[str, LabRun], pristine: str, offline_lab: str
    ) -> None:
        run = runs[offline_lab]
        assert run.solved.ok, run.solved.output
        assert run.solved_digest == pristine, (
            f"{offline_lab}: the solution does not leave exactly the repository's files"
        )


OFFLINE_TIMEOUT = pytest.mark.timeout(900)
