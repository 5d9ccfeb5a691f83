"""The k6 suite (bench/scenarios/, `shopfloor load`): its arithmetic, its guard rails, the in-cluster
TestRun validated against the k6 operator's CRD, and the smoke scenario run for real against a
local stack (e2e, about 25 s)."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from PIL import Image

from shopfloor.measure.load import (
    MAX_SECONDS,
    SCENARIOS,
    LoadError,
    Second,
    check_url,
    draw_chart,
    find_knee,
    per_second,
    render_testrun,
    slo_p99_ms,
)
from tests.crdkit import assert_valid, crd_errors, require_crds

REPO = Path(__file__).resolve().parents[2]
SHOPFLOOR = str(Path(sys.executable).parent / "shopfloor")


def write_points(path: Path, rows: list[tuple[str, float, float]], journey: str = "product-page") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric_name", "timestamp", "metric_value", "group", "scenario", "extra_tags"])
        for name, at, value in rows:
            writer.writerow([name, at, value, "", "stress", f"journey={journey}"])
    return path


def test_points_become_seconds_with_their_percentiles(tmp_path: Path) -> None:
    rows = [("http_req_duration", 1000.1, float(ms)) for ms in range(1, 101)]
    rows += [("iterations", 1000.5, 1.0)] * 7 + [("http_req_duration", 1002.0, 50.0)]
    seconds = per_second(write_points(tmp_path / "p.csv", rows))

    assert [s.at for s in seconds] == [0, 1, 2]  # the quiet second in between is kept, empty
    assert (seconds[0].requests, seconds[0].p50_ms, seconds[0].p99_ms, seconds[0].iterations) == (100, 51.0, 100.0, 7)
    assert seconds[1].requests == 0
    assert seconds[2].p99_ms == 50.0


def test_latency_is_the_journeys_own_and_setup_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric_name", "timestamp", "metric_value", "group", "scenario", "extra_tags"])
        writer.writerow(["http_req_duration", 999.0, 5000.0, "::setup", "", "journey=browse-products"])
        writer.writerow(["http_req_duration", 1000.0, 900.0, "", "stress", "journey=checkout"])
        writer.writerow(["http_req_duration", 1000.0, 20.0, "", "stress", "journey=product-page"])
    seconds = per_second(path, "product-page")
    assert len(seconds) == 1
    assert (seconds[0].requests, seconds[0].p99_ms) == (2, 20.0)  # both requests counted, one journey's latency


def test_the_knee_is_the_first_stretch_whose_p99_crosses_the_slo() -> None:
    calm = [Second(at, 100, 5.0, 40.0, 10) for at in range(10)]
    hot = [Second(at, 150, 60.0, 180.0, 30) for at in range(10, 20)]
    knee = find_knee(calm + hot, slo_ms=100.0)
    assert knee is not None
    assert (knee.at, knee.iterations) == (8, 22)  # the stretch 8..12 is mostly over: 2 calm, 3 hot seconds
    assert find_knee(calm, slo_ms=100.0) is None


def test_the_slo_comes_from_the_generated_thresholds() -> None:
    document = orjson.loads((REPO / "observability/generated/k6-thresholds.json").read_bytes())
    expected = document["thresholds"]["http_req_duration{journey:product-page}"][0]
    assert expected == f"p(99)<{slo_p99_ms(REPO):g}"


def test_load_goes_to_loopback_unless_allowed() -> None:
    assert check_url("http://127.0.0.1:8000/", allow_remote=False) == "http://127.0.0.1:8000"
    assert check_url("http://localhost:8000", allow_remote=False) == "http://localhost:8000"
    with pytest.raises(LoadError, match="not a loopback address"):
        check_url("https://shop.example.com", allow_remote=False)
    assert check_url("https://shop.example.com", allow_remote=True) == "https://shop.example.com"
    with pytest.raises(LoadError, match="http"):
        check_url("ftp://127.0.0.1", allow_remote=False)


def test_every_scenario_is_bounded_and_present() -> None:
    for scenario in SCENARIOS:
        assert (REPO / "bench" / "scenarios" / f"{scenario}.js").exists()
        assert MAX_SECONDS[scenario] <= 7200
    assert MAX_SECONDS["smoke"] <= 30


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    seconds = [Second(at, 10 * at, 5.0 + at, 20.0 + 3 * at, at) for at in range(30)]
    draw_chart(seconds, "test", 100.0, tmp_path / "chart.png")
    with Image.open(tmp_path / "chart.png") as image:
        assert image.format == "PNG"
        assert image.size == (1000, 560)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_in_cluster_testrun_is_valid_against_the_k6_operator_crd(scenario: str) -> None:
    folder = require_crds()
    documents = render_testrun(REPO, scenario, "http://api-gateway.shopfloor.svc.cluster.local:8080")
    config_map, test_run = documents
    assert assert_valid([test_run], folder) == 1
    assert set(config_map["data"]) == {f"{scenario}.js", "lib.js", "k6-thresholds.json"}
    assert test_run["spec"]["script"]["configMap"] == {"name": config_map["metadata"]["name"], "file": f"{scenario}.js"}


def test_a_broken_testrun_is_refused_by_the_crd() -> None:
    folder = require_crds()
    test_run = render_testrun(REPO, "load", "http://api-gateway:8080")[1]
    test_run["spec"]["parallelism"] = "one"
    test_run["spec"]["scripts"] = test_run["spec"].pop("script")
    errors = crd_errors(test_run, folder)
    assert any("parallelism" in error for error in errors), errors
    assert any("scripts" in error for error in errors), errors


def test_an_unknown_scenario_is_refused_by_the_cli() -> None:
    done = subprocess.run([SHOPFLOOR, "load", "chaos"], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 2
    assert "invalid choice: 'chaos'" in done.stderr


@pytest.mark.e2e
def test_the_smoke_scenario_passes_against_a_local_stack(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [SHOPFLOOR, "load", "smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    # Exit 1 is "a latency threshold missed": the test is about outcomes (every journey answered,
    # nothing failed), so it holds on a busy shared machine; the thresholds are reported either way.
    assert done.returncode in (0, 1), output[-3000:]
    assert "thresholds met" in output or "thresholds MISSED" in output
    summaries = list(tmp_path.glob("smoke-*.summary.json"))
    assert len(summaries) == 1
    metrics = orjson.loads(summaries[0].read_bytes())["metrics"]
    assert metrics["http_req_failed"]["value"] == 0
    assert metrics["checks"]["value"] == 1.0
    assert metrics["http_reqs"]["count"] >= 30  # 10 shoppers' list, product, picture (+ checkouts)
    assert list(tmp_path.glob("smoke-*.png"))
    print(f"smoke: {time.monotonic() - started:.1f}s")
