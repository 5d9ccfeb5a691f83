"""Running a lab README's shell blocks, as a learner would type them (the EKS workshop's idea: the
guide is executed, so it cannot drift from the tool).

A README's ```sh blocks run in order, each in its own `bash -e -o pipefail` from the repo root
with the repo's .venv/bin first on PATH. Marks, in an HTML comment on a line of their own between
the previous block and this one:

    <!-- expect: fail -->     the block must exit non-zero (a verify before the fix)
    <!-- needs: kind -->      not run here: needs a kind cluster (or `needs: aws`: an AWS account)
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
_MARK = re.compile(r"<!--\s*(expect|needs):\s*([a-z-]+)\s*-->")


@dataclass(frozen=True)
class Block:
    code: str
    expect_fail: bool
    needs: str | None
    line: int


def shell_blocks(readme: Path) -> list[Block]:
    text = readme.read_text(encoding="utf-8")
    blocks = []
    previous_end = 0
    for match in _BLOCK.finditer(text):
        between = text[previous_end : match.start()]
        marks = dict(_MARK.findall(between))
        if marks.get("expect") not in (None, "fail"):
            raise ValueError(f"{readme}: unknown mark expect: {marks['expect']}")
        blocks.append(
            Block(
                code=match.group(1),
                expect_fail=marks.get("expect") == "fail",
                needs=marks.get("needs"),
                line=text.count("\n", 0, match.start()) + 1,
            )
        )
        previous_end = match.end()
    return blocks


@dataclass
class BlockRun:
    block: Block
    returncode: int
    output: str
    seconds: float


def run_block(block: Block, *, repo: Path, env: dict[str, str], timeout: float = 240.0) -> BlockRun:
    began = time.monotonic()
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.code],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return BlockRun(block, result.returncode, result.stdout + result.stderr, time.monotonic() - began)


def lab_environment(repo: Path, labs_dir: Path, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "ADMIN_API_KEY"}}
    env["PATH"] = f"{repo / '.venv' / 'bin'}:{env.get('PATH', '')}"
    env["SHOPFLOOR_LABS_DIR"] = str(labs_dir)
    env["LAB_REDIS_URL"] = redis_url
    env.setdefault(
        "LAB_POSTGRES_URL", os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    return env
