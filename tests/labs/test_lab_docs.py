"""Every lab README is executed (tests/labs/labkit.py): for a local-stack lab that is the whole lab
on one shared lab shop — start, verify fails, the reference solution, verify passes, reset — and
then the shop must be healthy again (every journey within its objective, no lab running)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopfloor.labs import client
from shopfloor.labs.checks import check_slis
from shopfloor.labs.model import Lab, load_labs, offline_engine
from shopfloor.repo import find_repo_root
from tests.labs.labkit import lab_environment, run_block, shell_blocks

REPO = find_repo_root(Path(__file__).parent)
LABS = load_labs(REPO)
# Every local-stack lab's README runs, in turn, on one lab shop started once for the module: 15-65 s
# a lab (stock-after-hang and incident-db-failover longest: their incidents take place during
# start), 300-340 s for the ten with the shop's start at load average 3.5-6, 460-580 s beside the
# rest of tests/labs at 5-10. The root conftest.py hands this module out first, so in make test it runs
# beside the rest of the suite instead of after it (docs/labs.md: the measured seconds).
STACK_LABS = [lab for lab in LABS if lab.runs_on == "local-stack"]
# Every offline lab's break → failing check → fix → passing check is run by tests/labs/
# test_offline_*_labs.py; here one README is executed as written by default, and every one with
# SHOPFLOOR_LAB_TESTS=all (each takes one to two minutes of chart checks or terraform test).
ALL_LABS = os.environ.get("SHOPFLOOR_LAB_TESTS", "") == "all"
DEFAULT_OFFLINE_LABS = ("k8s-readiness-probe-path",)
OFFLINE_LABS = [lab for lab in LABS if lab.runs_on == "offline" and (ALL_LABS or lab.id in DEFAULT_OFFLINE_LABS)]
TIMINGS: dict[str, float] = {}
# SHOPFLOOR_LAB_TIMINGS=FILE appends one JSON line per README block run (lab, line, seconds):
# where each lab's time goes.
TIMINGS_FILE = os.environ.get("SHOPFLOOR_LAB_TIMINGS")


def _record(lab_id: str, line: int, seconds: float) -> None:
    if TIMINGS_FILE:
        with open(TIMINGS_FILE, "a", encoding="utf-8") as out:
            out.write(json.dumps({"lab": lab_id, "line": line, "seconds": round(seconds, 1)}) + "\n")


@pytest.fixture(scope="module")
def lab_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    env = lab_environment(REPO, tmp_path_factory.mktemp("labs"), redis_url)
    previous = os.environ.get("SHOPFLOOR_LABS_DIR")
    os.environ["SHOPFLOOR_LABS_DIR"] = env["SHOPFLOOR_LABS_DIR"]
    try:
        yield env
    finally:
        client.stop_shop(REPO)
        if previous is None:
            os.environ.pop("SHOPFLOOR_LABS_DIR", None)
        else:
            os.environ["SHOPFLOOR_LABS_DIR"] = previous
        if TIMINGS:
            print("\nlab seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in TIMINGS.items()))


def _reset_any(env: dict[str, str]) -> None:
    state = client.read_state(REPO)
    if state is not None and "control_url" in state:
        running = client.call(REPO, "GET", "/status")["lab"]
        if running:
            client.call(REPO, "POST", "/reset")


@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("lab", STACK_LABS, ids=[lab.id for lab in STACK_LABS])
def test_stack_lab_readme_runs(lab: Lab, lab_env: dict[str, str]) -> None:
    began = time.monotonic()
    blocks = shell_blocks(lab.readme)
    assert any("shopfloor lab verify" in b.code and b.expect_fail for b in blocks), "a verify that fails first"
    assert any("shopfloor lab verify" in b.code and not b.expect_fail for b in blocks), "a verify that passes"
    assert "shopfloor lab reset" in blocks[-1].code, "the README ends with the reset"
    try:
        for block in blocks:
            if block.needs:
                continue
            run = run_block(block, repo=REPO, env=lab_env)
            _record(lab.id, block.line, run.seconds)
            failed = run.returncode != 0
            assert failed == block.expect_fail, (
                f"{lab.readme.relative_to(REPO)}:{block.line}: expected "
                f"{'a failure' if block.expect_fail else 'success'}, got exit {run.returncode}:\n{run.output[-3000:]}"
            )
        status = client.call(REPO, "GET", "/status")
        assert status["lab"] is None
        healthy = asyncio.run(check_slis(REPO, status["edge_url"], ["browse-products", "product-page", "checkout"], 2))
        assert all(c.ok for c in healthy), [c.message for c in healthy]
    finally:
        _reset_any(lab_env)
        TIMINGS[lab.id] = time.monotonic() - began
        _record(lab.id, 0, TIMINGS[lab.id])  # line 0: the whole lab, health check included


# The offline labs (helper kb15's engine, shopfloor/labs/offline.py) are defined only when some
# exist: an empty parametrisation would show as a skip, which this repo keeps for missing tools.
if OFFLINE_LABS:

    @pytest.mark.parametrize("lab", OFFLINE_LABS, ids=[lab.id for lab in OFFLINE_LABS])
    def test_offline_lab_readme_runs(lab: Lab, lab_env: dict[str, str]) -> None:
        if offline_engine() is None:
            listed = subprocess.run(
                ["shopfloor", "lab", "list"],
                env=lab_env,
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            line = next(row for row in listed.splitlines() if row.startswith(lab.id + " "))
            assert "needs kb15 engine" in line
            return
        for block in shell_blocks(lab.readme):
            if block.needs:
                continue
            run = run_block(block, repo=REPO, env=lab_env)
            assert (run.returncode != 0) == block.expect_fail, (
                f"{lab.readme.relative_to(REPO)}:{block.line}: exit {run.returncode}:\n{run.output[-3000:]}"
            )
