"""The Kubernetes offline labs, each run for real: the break makes the chart checks
(`python -m tests.charts.check`) fail with the lab's lesson, the reference solution makes them pass
and leaves exactly the repository's files (tests/labs/offlinekit.py)."""

from __future__ import annotations

from tests.labs.offlinekit import OFFLINE_TIMEOUT, REPO, LabRun, OfflineLayerTests, layer_labs


@OFFLINE_TIMEOUT
class TestKubernetesLabs(OfflineLayerTests):
    LAYER = "kubernetes"

    def test_the_output_the_readme_shows_is_what_the_check_prints(
        self, runs: dict[str, LabRun], offline_lab: str
    ) -> None:
        readme = (REPO / "labs" / offline_lab / "README.md").read_text(encoding="utf-8")
        shown = [line.strip() for line in readme.splitlines() if line.strip().startswith("prod: ")]
        assert shown, f"{offline_lab}: the README shows no output of the chart checks"
        for line in shown:
            assert line in runs[offline_lab].broken.output, line

    def test_a_check_that_finds_nothing_says_so(self, runs: dict[str, LabRun]) -> None:
        first = layer_labs(self.LAYER)[0]
        assert "charts fine: prod" in runs[first].solved.output, runs[first].solved.output
