"""What the CI tests share: the workflow and buildspec files, their shell blocks, and the checks
that are applied both to the real files and to deliberately broken copies of them."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from shopfloor.cli import build_parser
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)
GITHUB = REPO / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
BUILDSPEC = REPO / "ci" / "codebuild" / "buildspec.yml"
DEPLOY = REPO / "scripts" / "deploy"
VENV_BIN = REPO / ".venv" / "bin"
EXPECTED_WORKFLOWS = {"ci", "release", "promote", "e2e-kind", "terraform", "incident"}

# `uses: owner/repo[/path]@<40 hex> # vX.Y.Z`, nothing else (local actions excepted).
PINNED_USES = re.compile(r"^\s*(?:-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+\s*$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s+(\S+)")
# Commands named in shell blocks.
SCRIPT_CALL = re.compile(r"(?:^|[\s;&|(`])(?:\./)?(scripts/[\w./-]+\.(?:sh|bat))\b")
# A command at command position: the start of a line or after ; & | ( $( or a backquote.
COMMAND_START = r"(?:^|[;&|(`])[ \t]*"
MAKE_CALL = re.compile(COMMAND_START + r"make((?:[ \t]+[^\s;&|)#]+)+)", re.MULTILINE)
SHOPFLOOR_CALL = re.compile(
    COMMAND_START + r"(?:[\w./-]*/)?shopfloor[ \t]+([a-z][a-z-]*)(?:[ \t]+([a-z][a-z-]*))?", re.MULTILINE
)
WRAPPER_CALL = re.compile(r"^run_shopfloor ([a-z][a-z -]*?) \"\$@\"$", re.MULTILINE)


def tool_env() -> dict[str, str]:
    """The environment for the repo's linters: .venv/bin first (actionlint finds shellcheck there)."""
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def triggers(workflow: dict[Any, Any]) -> Any:
    # YAML 1.1 reads the key `on` as the boolean True.
    return workflow.get("on", workflow.get(True))


def workflow_blocks(workflow: dict[str, Any], where: str) -> Iterator[tuple[str, str]]:
    for job_name, job in workflow.get("jobs", {}).items():
        for number, step in enumerate(job.get("steps", []), start=1):
            if "run" in step:
                yield f"{where} {job_name} step {number}", str(step["run"])


def buildspec_blocks(spec: dict[str, Any], where: str) -> Iterator[tuple[str, str]]:
    for phase_name, phase in spec.get("phases", {}).items():
        for number, command in enumerate(phase.get("commands", []), start=1):
            yield f"{where} {phase_name} command {number}", str(command)


def all_blocks() -> list[tuple[str, str]]:
    blocks = [block for path in WORKFLOWS for block in workflow_blocks(load_yaml(path), path.name)]
    return blocks + list(buildspec_blocks(load_yaml(BUILDSPEC), BUILDSPEC.name))


def subcommands(parser: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    """The CLI's subcommands, from the real argument parser."""
    for action in (parser or build_parser())._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def shopfloor_command_problems(text: str, where: str) -> list[str]:
    problems = []
    commands = subcommands()
    for match in SHOPFLOOR_CALL.finditer(text):
        name, sub = match.group(1), match.group(2)
        if name not in commands:
            problems.append(f"{where}: `shopfloor {name}` is not a subcommand of the repo CLI")
            continue
        nested = subcommands(commands[name])
        if nested and sub not in nested:
            problems.append(f"{where}: `shopfloor {name} {sub}` is not a subcommand (has {sorted(nested)})")
    return problems


def make_target_problems(text: str, where: str, makefile_dir: Path = REPO) -> list[str]:
    problems = []
    for match in MAKE_CALL.finditer(text):
        targets = [word for word in match.group(1).split() if "=" not in word and not word.startswith("-")]
        for target in targets:
            # make itself decides: a dry run fails with "No rule to make target" for a missing one.
            result = subprocess.run(
                ["make", "--dry-run", "--no-print-directory", target],
                cwd=makefile_dir,
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
            if result.returncode != 0:
                problems.append(f"{where}: `make {target}`: {result.stderr.strip()}")
    return problems


def script_problems(text: str, where: str, exercised: str, root: Path = REPO) -> list[str]:
    """Every scripts/... file a block runs exists, is executable and is run by some test (its path
    appears in `exercised`, the text of the test suites)."""
    problems = []
    for relative in SCRIPT_CALL.findall(text):
        path = root / relative
        if not path.is_file():
            problems.append(f"{where}: {relative} does not exist")
        elif relative.endswith(".sh") and not os.access(path, os.X_OK):
            problems.append(f"{where}: {relative} is not executable")
        elif f'"{relative}"' not in exercised:
            problems.append(f"{where}: {relative} is run by no test")
    return problems


def suite_sources(exclude: Path) -> str:
    """The text of every test module in the repository but `exclude` (the module that only names
    the scripts): where each script must be run."""
    roots = [REPO / "tests", *REPO.glob("tools/*/tests"), *REPO.glob("apps/*/tests")]
    paths = [path for root in roots for path in sorted(root.rglob("test_*.py")) if path.resolve() != exclude.resolve()]
    return "\n".join(path.read_text(encoding="utf-8") for path in paths)


def pin_problems(text: str, where: str) -> list[str]:
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = USES_LINE.match(line)
        if not match or match.group(1).startswith("./"):
            continue
        if not PINNED_USES.match(line):
            problems.append(
                f"{where}:{number}: not pinned to a full commit sha with a `# vX.Y.Z` comment: {line.strip()}"
            )
    return problems


def permission_problems(workflow: dict[str, Any], where: str) -> list[str]:
    problems = []
    if workflow.get("permissions") != {}:
        problems.append(f"{where}: top-level permissions must be {{}} (each job asks for what it needs)")
    for name, job in workflow.get("jobs", {}).items():
        permissions = job.get("permissions")
        if not isinstance(permissions, dict):
            problems.append(f"{where} {name}: no explicit permissions map")
            continue
        uses = [str(step.get("uses", "")) for step in job.get("steps", [])]
        assumes_role = any(use.startswith("aws-actions/configure-aws-credentials@") for use in uses)
        if permissions.get("id-token") == "write" and not assumes_role:
            problems.append(f"{where} {name}: id-token: write without an OIDC login")
        if assumes_role and permissions.get("id-token") != "write":
            problems.append(f"{where} {name}: assumes an AWS role without id-token: write")
    return problems


def credential_problems(text: str, where: str) -> list[str]:
    """AWS through OIDC only; account ids and regions are variables, never secrets or literals."""
    problems = []
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if forbidden in text:
            problems.append(f"{where}: static AWS keys ({forbidden})")
    if "secrets." in text:
        problems.append(f"{where}: uses a secret (ids are repository variables; AWS is reached through OIDC)")
    for arn in re.findall(r"arn:aws:iam::(\S+?):role/", text):
        if arn != "${{ vars.AWS_ACCOUNT_ID }}":
            problems.append(f"{where}: role ARN with account {arn!r} instead of vars.AWS_ACCOUNT_ID")
    return problems
