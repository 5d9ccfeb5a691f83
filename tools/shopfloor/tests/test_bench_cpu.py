"""The bench's CPU meter on real processes: a busy process group and an idle one, and a real
PostgreSQL backend doing work. (The rows they give docs/performance.md: test_cli_bench.py.)"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import asyncpg
import pytest

from shopfloor.measure.cpu import CpuMeter, cpu_seconds, postgres_backends, process_group

BUSY = "import time\nend = time.monotonic() + 1.2\nwhile time.monotonic() < end: pass\n"
IDLE = "import time; time.sleep(1.2)"


def _start_group(code: str) -> subprocess.Popen[bytes]:
    # Its own session, as the bench's services run: the group is the service and its children.
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


async def _measure_groups() -> dict[str, float]:
    busy, idle = _start_group(BUSY), _start_group(IDLE)
    try:
        meter = CpuMeter({"busy": process_group(busy.pid), "idle": process_group(idle.pid)})
        meter.start()
        await asyncio.sleep(1.0)
        return await meter.stop()
    finally:
        busy.wait(5)
        idle.wait(5)


def test_a_busy_process_group_is_charged_its_cpu_and_an_idle_one_nothing() -> None:
    spent = asyncio.run(_measure_groups())

    assert spent["busy"] > 0.15, spent  # a second of spinning, on a shared 2-core machine under load
    assert spent["idle"] < 0.1, spent


def test_a_process_that_is_gone_has_no_cpu_to_read() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(5)
    assert cpu_seconds(process.pid) is None


async def _measure_backend(postgres_url: str) -> tuple[dict[str, float], str]:
    dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    database = dsn.rsplit("/", 1)[1]
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        meter = CpuMeter({"PostgreSQL": postgres_backends(database), "nobody": postgres_backends("no_such_db_")})
        meter.start()
        await connection.fetchval("SELECT sum(sqrt(n)) FROM generate_series(1, 3000000) AS n")
        return await meter.stop(), database
    finally:
        await connection.close()


@pytest.mark.postgres
def test_the_backends_of_the_bench_databases_are_charged_their_queries(postgres_url: str) -> None:
    spent, _ = asyncio.run(_measure_backend(postgres_url))

    assert spent["PostgreSQL"] > 0.05, spent
    assert spent["nobody"] == 0.0
