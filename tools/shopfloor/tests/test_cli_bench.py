"""The bench's arithmetic and its page: figures from a k6 summary export, docs/performance.md kept
around the generated block. (The bench itself runs for a minute: `make bench`.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shopfloor.measure.bench import (
    BEGIN_MARKER,
    END_MARKER,
    BenchError,
    BenchOptions,
    cache_counters,
    parse_checkout_summary,
    parse_mixed_summary,
    parse_summary,
    results_block,
    update_performance_page,
)


def summary(direct: int, gateway: int, p99: float) -> dict[str, Any]:
    duration = {"avg": 2.0, "min": 1.0, "med": 2.5, "p(90)": 3.0, "p(95)": 4.0, "max": 30.0}
    failed = {"passes": 0, "fails": 10, "value": 0}
    return {
        "metrics": {
            "http_reqs{scenario:direct}": {"count": direct, "rate": 1.0},
            "http_reqs{scenario:gateway}": {"count": gateway, "rate": 1.0},
            "http_reqs{scenario:latency}": {"count": 4000, "rate": 1.0},
            "http_req_duration{scenario:direct}": {**duration, "p(99)": 9.0},
            "http_req_duration{scenario:gateway}": {**duration, "p(99)": 19.0},
            "http_req_duration{scenario:latency}": {**duration, "p(99)": p99},
            "http_req_failed{scenario:direct}": failed,
            "http_req_failed{scenario:gateway}": failed,
            "http_req_failed{scenario:latency}": {**failed, "value": 0.001},
            "dropped_iterations": {"count": 3, "rate": 0.1},
        }
    }


def context() -> dict[str, Any]:
    machine = {"nproc": 2, "cpu_model": "Test CPU", "memory_gib": 24.0, "kernel": "6.1", "python": "3.11.7"}
    return {
        "date": "2026-01-01 00:00 UTC",
        "machine": {**machine, "load_average_at_start": [0.5, 0.4, 0.3]},
        "k6_version": "k6 v1.1.0",
        "postgres_version": "15.20",
        "cache": "in-process",
        "results_file": "bench-x.json",
    }


def test_throughput_is_count_over_the_scenario_duration_and_the_ratio_compares_them(tmp_path: Path) -> None:
    options = BenchOptions(repo=tmp_path, throughput_seconds=15, latency_seconds=20)
    result = parse_summary(summary(direct=60_000, gateway=27_000, p99=12.5), options)
    assert result.direct_rps == 4000
    assert result.gateway_rps == 1800
    assert result.ratio == pytest.approx(0.45)
    assert result.ratio_ok
    assert result.latency_p99_ms == 12.5
    assert result.p99_ok
    assert result.latency_rps == 200
    assert result.failed["latency"] == 0.001
    assert result.dropped_iterations == 3

    slow = parse_summary(summary(direct=60_000, gateway=18_000, p99=31.0), options)
    assert not slow.ratio_ok
    assert not slow.p99_ok


def test_a_missing_scenario_is_an_error(tmp_path: Path) -> None:
    document = summary(1, 1, 1.0)
    del document["metrics"]["http_reqs{scenario:gateway}"]
    with pytest.raises(BenchError, match="gateway"):
        parse_summary(document, BenchOptions(repo=tmp_path))


def test_the_page_is_created_then_only_its_generated_block_is_replaced(tmp_path: Path) -> None:
    options = BenchOptions(repo=tmp_path)
    page = tmp_path / "docs" / "performance.md"
    first = results_block(parse_summary(summary(60_000, 27_000, 12.5), options), options, context())
    update_performance_page(page, first)
    text = page.read_text()
    assert text.startswith("# Performance")
    assert "**0.45**" in text
    assert "Test CPU" in text
    assert "## How measured" in text

    page.write_text(text.replace("# Performance\n", "# Performance\n\nA note someone wrote.\n"))
    second = results_block(parse_summary(summary(60_000, 18_000, 31.0), options), options, context())
    update_performance_page(page, second)
    text = page.read_text()
    assert "A note someone wrote." in text
    assert "## How measured" in text
    assert "**0.30**" in text
    assert "**0.45**" not in text
    assert text.count(BEGIN_MARKER) == text.count(END_MARKER) == 1
    assert "**FAIL**" in text


def checkout_summary(count: int, checks_passed: float) -> dict[str, Any]:
    return {
        "metrics": {
            "http_reqs{scenario:checkout}": {"count": count, "rate": 1.0},
            "http_req_duration{scenario:checkout}": {"med": 40.0, "p(99)": 180.5, "max": 300.0},
            "http_req_failed{scenario:checkout}": {"passes": 0, "fails": count, "value": 0.0},
            "checks{scenario:checkout}": {"passes": count, "fails": 0, "value": checks_passed},
        }
    }


def test_checkout_figures_land_in_the_page_with_their_verdict(tmp_path: Path) -> None:
    options = BenchOptions(repo=tmp_path, checkout_vus=16, checkout_seconds=15)
    result = parse_summary(summary(60_000, 27_000, 12.5), options)
    result.checkout = parse_checkout_summary(checkout_summary(1_500, 1.0), options.checkout_seconds)
    result.checkout.orders_by_status = {"CONFIRMED": 1_510}
    assert result.checkout.orders_per_second == 100
    assert result.checkout.ok

    block = results_block(result, options, context())
    assert "**100.0 orders/s**" in block
    assert "**180.5 ms** (p50 40.0 ms)" in block
    assert "CONFIRMED 1,510" in block

    result.checkout = parse_checkout_summary(checkout_summary(1_500, 0.9), options.checkout_seconds)
    assert not result.checkout.ok
    assert "10.00% | ≤ 1% | **FAIL**" in results_block(result, options, context())


def test_a_checkout_run_without_its_metrics_is_an_error() -> None:
    document = checkout_summary(10, 1.0)
    del document["metrics"]["checks{scenario:checkout}"]
    with pytest.raises(BenchError, match="checks"):
        parse_checkout_summary(document, 15)


def mixed_summary(reads: int, read_p99: float, checkouts: int, checkout_p99: float, failed: float) -> dict[str, Any]:
    duration = {"avg": 2.0, "min": 1.0, "med": 2.5, "p(90)": 3.0, "p(95)": 4.0, "max": 300.0}
    return {
        "metrics": {
            "http_reqs{scenario:browse}": {"count": reads},
            "http_reqs{scenario:checkout}": {"count": checkouts},
            "http_req_duration{scenario:browse}": {**duration, "p(99)": read_p99},
            "http_req_duration{scenario:checkout}": {**duration, "p(99)": checkout_p99},
            "http_req_failed{scenario:browse}": {"value": failed},
            "http_req_failed{scenario:checkout}": {"value": 0.0},
            "dropped_iterations": {"count": 2},
        }
    }


METRICS_BEFORE = """# HELP catalog_product_reads_total Product reads
catalog_product_reads_total{kind="item",result="hit"} 10.0
catalog_product_reads_total{kind="list",result="miss"} 5.0
cache_requests_total{backend="memory",result="hit"} 100.0
"""
METRICS_AFTER = """catalog_product_reads_total{kind="item",result="hit"} 910.0
catalog_product_reads_total{kind="list",result="hit"} 50.0
catalog_product_reads_total{kind="list",result="miss"} 40.0
catalog_product_reads_total{kind="item",result="stock"} 15.0
cache_requests_total{backend="memory",result="hit"} 1100.0
cache_requests_total{backend="memory",result="miss"} 100.0
"""


def test_mixed_figures_and_the_hit_ratio_over_the_run_only(tmp_path: Path) -> None:
    before, after = cache_counters(METRICS_BEFORE), cache_counters(METRICS_AFTER)
    assert before == {"product:hit": 10.0, "product:miss": 5.0, "lookup:hit": 100.0}

    mixed = parse_mixed_summary(mixed_summary(4_000, 12.0, 400, 180.0, 0.0), 20, before, after)

    assert (mixed.read_rps, mixed.checkout_rps) == (200, 20)
    assert mixed.product_hit_ratio == pytest.approx(950 / 1000)  # 950 hits of 1,000 reads (950 + 35 + 15) in the run
    assert mixed.lookup_hit_ratio == pytest.approx(1000 / 1100)
    assert mixed.ok
    options = BenchOptions(repo=tmp_path)
    result = parse_summary(summary(60_000, 27_000, 12.5), options)
    result.mixed = mixed
    block = results_block(result, options, context())
    assert "| **95.0%** | ≥ 90% | pass |" in block

    slow = parse_mixed_summary(mixed_summary(4_000, 31.0, 400, 180.0, 0.001), 20, before, after)
    assert not slow.ok
    assert slow.failed_requests == 4


def test_checkout_over_pgbench_is_the_figure_to_compare(tmp_path: Path) -> None:
    options = BenchOptions(repo=tmp_path, checkout_seconds=15)
    result = parse_summary(summary(60_000, 27_000, 12.5), options)
    result.checkout = parse_checkout_summary(checkout_summary(3_000, 1.0), options.checkout_seconds)
    result.pgbench_tps = 1_000.0

    assert result.checkout_over_pgbench == pytest.approx(0.2)
    block = results_block(result, options, context())
    assert "| **hot-sku checkout / pgbench** | **0.200** | ≥ 0.13 | pass |" in block


def test_the_page_says_where_a_checkout_cpu_goes_beside_pgbench(tmp_path: Path) -> None:
    options = BenchOptions(repo=tmp_path, checkout_seconds=15)
    result = parse_summary(summary(60_000, 27_000, 12.5), options)
    result.checkout = parse_checkout_summary(checkout_summary(3_000, 1.0), options.checkout_seconds)
    result.checkout.cpu_ms = {"api-gateway": 1.0, "orders": 3.0, "catalog": 1.5, "PostgreSQL": 0.5}
    result.pgbench_tps = 1_000.0
    result.pgbench_cpu_ms = {"PostgreSQL": 0.4, "pgbench": 0.1}

    assert result.cpu_over_pgbench == pytest.approx(12.0)
    block = results_block(result, options, context())
    assert "| CPU per hot-sku checkout (ms) | api-gateway 1.00 + orders 3.00 + catalog 1.50 + PostgreSQL 0.50" in block
    assert (
        "| CPU of a checkout / CPU of a pgbench transaction | **12.0×** (checkout / pgbench ≥ 0.13 needs ≤ 7.7×)"
    ) in block
