"""The smoke test (`shopfloor smoke`, also as the PostSync Job runs it: the CLI's base install, which is
the standard library only) against the real local stack: catalog, orders and api-gateway as processes.
tests/images runs it from the tools image itself."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from shopfloor.repo import find_repo_root
from shopfloor_common.localserver import free_port

from ..conftest import StartService

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

REPO = find_repo_root(Path(__file__).parent)
SHOPFLOOR = str(Path(sys.executable).with_name("shopfloor"))
# The tools image's install: the shopfloor package and nothing but the standard library (-I -S).
BASE_INSTALL = (
    sys.executable,
    "-I",
    "-S",
    "-c",
    f"import sys; sys.path.insert(0, {str(REPO / 'tools' / 'shopfloor' / 'src')!r}); sys.argv[0] = 'shopfloor'; "
    "from shopfloor.cli import main; main()",
)


async def run(*argv: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=REPO
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_the_smoke_test_passes_against_the_local_stack_and_names_what_is_missing(
    start_service: StartService,
) -> None:
    await start_service("catalog")
    await start_service("orders")
    # As in a cluster: /metrics and the health paths on the management port, not on the public one.
    gateway = await start_service("api-gateway", env={"MANAGEMENT_PORT": str(free_port())})

    code, output = await run(SHOPFLOOR, "smoke", "--base-url", gateway.url)
    assert code == 0, output
    for check in ("product list", "one product", "unknown product", "API description", "nothing internal"):
        assert f"ok   {check}" in output

    # As the Job runs it: the base install, no third-party package importable.
    code, output = await run(*BASE_INSTALL, "smoke", "--base-url", gateway.url)
    assert code == 0, output

    # No frontend in this stack: asking for one fails, and says which check.
    code, output = await run(SHOPFLOOR, "smoke", "--base-url", gateway.url, "--expect-frontend")
    assert code == 1
    assert "FAIL frontend page" in output


async def test_the_smoke_test_fails_when_metrics_answer_on_the_public_port(start_service: StartService) -> None:
    # Without MANAGEMENT_PORT the service serves /metrics on its one port, as before issue 16.
    await start_service("catalog")
    gateway = await start_service("api-gateway")
    code, output = await run(SHOPFLOOR, "smoke", "--base-url", gateway.url, "--timeout", "2", "--wait", "0")
    assert code == 1, output
    assert "FAIL nothing internal: internal paths on the public edge: /metrics answers 200" in output


async def test_the_smoke_test_fails_when_nothing_answers() -> None:
    code, output = await run(SHOPFLOOR, "smoke", "--base-url", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    assert code == 1
    assert "no answer" in output
    code, output = await run(SHOPFLOOR, "smoke", "--base-url", "file:///etc/passwd")
    assert code == 2
