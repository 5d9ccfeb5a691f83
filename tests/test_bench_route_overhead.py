"""bench/route_overhead.py runs both variants for real: every request answered 201, the fast
route serving exactly the fast rounds' requests, and bad arguments refused with a message."""

from __future__ import annotations

import subprocess

import orjson

from tests.benchkit import run_bench_script


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return run_bench_script("route_overhead.py", *args)


def test_both_variants_answer_every_request_and_only_the_fast_rounds_use_the_fast_route() -> None:
    done = run_bench("--requests", "50", "--rounds", "2", "--json")
    assert done.returncode == 0, done.stderr
    figures = orjson.loads(done.stdout)
    per_request = figures["microseconds_per_request"]
    assert sorted(per_request) == ["documented FastAPI route", "fast route"]
    assert all(len(values) == 2 and min(values) > 0 for values in per_request.values())
    # Warm-up (50) and measured (50) requests of the two fast rounds; none of the documented rounds.
    assert figures["served_by_fast_route"] == 2 * (50 + 50)


def test_the_table_names_both_variants_and_their_ratio() -> None:
    done = run_bench("--requests", "20", "--rounds", "1")
    assert done.returncode == 0, done.stderr
    assert "documented FastAPI route" in done.stdout
    assert "documented / fast" in done.stdout


def test_bad_arguments_are_refused_with_a_message() -> None:
    refused = run_bench("--requests", "0")
    assert refused.returncode == 2
    assert "--requests must be 1-1000000" in refused.stderr
    refused = run_bench("--rounds", "21")
    assert refused.returncode == 2
    assert "--rounds must be 1-20" in refused.stderr
