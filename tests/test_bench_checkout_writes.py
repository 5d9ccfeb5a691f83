"""bench/checkout_writes.py on real PostgreSQL: it runs, every order is written, reserved and
settled under both variants, and the one-statement path sends the statements it is meant to."""

from __future__ import annotations

import subprocess

import orjson

from tests.benchkit import run_bench_script


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return run_bench_script("checkout_writes.py", *args)


def test_one_statement_writes_send_three_statements_where_one_by_one_sends_eight(postgres_url: str) -> None:
    server = postgres_url.rpartition("/")[0]
    done = run_bench("--orders", "40", "--rounds", "1", "--json", "--database-url", server)
    assert done.returncode == 0, done.stderr
    results = orjson.loads(done.stdout)
    # Per checkout: order + line + event, reservation + line + stock, settle + event.
    assert [r["statements"] for r in results["one statement"]] == [3.0]
    assert [r["statements"] for r in results["one by one"]] == [8.0]
    for rounds in results.values():
        assert rounds[0]["orders_per_second"] > 0
        assert rounds[0]["python_ms"] > 0


def test_bad_arguments_and_an_unreachable_server_are_refused_with_a_message() -> None:
    refused = run_bench("--orders", "0")
    assert refused.returncode == 2
    assert "--orders must be 1-100000" in refused.stderr
    unreachable = run_bench("--orders", "1", "--database-url", "postgresql+asyncpg://postgres@127.0.0.1:9")
    assert unreachable.returncode == 1
    assert "cannot use PostgreSQL at postgresql+asyncpg://postgres@127.0.0.1:9" in unreachable.stderr
