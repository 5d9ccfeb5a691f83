"""The offline lab kind: a broken copy of the repository that the repository's own checks reject.

An offline lab (labs/<id>/lab.yaml, `runs_on: offline`) needs no running shop, cluster or AWS
account. `prepare` copies the repository's tracked files into a scratch workspace and applies the
lab's break patch there (never in the checkout); the learner works in that workspace; `verify`
runs the lab's verification commands in it (the chart checks, `terraform test`, checkov...), which
fail while the fault is there and pass once it is fixed; `apply_solution` applies the reference
solution patch (the tests and `shopfloor lab` use it to prove the lab can be solved).

The `offline:` mapping of lab.yaml:

    offline:
      break: break.patch          # a unified diff (git diff) against the repository, relative to the lab folder
      solution: solution.patch    # the reference fix, applied on top of the break
      verify:                     # shell commands run in the workspace, in order; all must exit 0
        - python -m tests.charts.check prod
      expect: "readinessProbe path /ready"   # text the failing verification prints (the lesson)
      paths: [charts, environments, tests]   # optional: copy only these tracked paths (default: all)
      timeout: 300                # optional: seconds per command (default 300)

The commands run with the repository's virtualenv first on PATH (python, pytest, shopfloor), then
checkov's own virtualenv (.venv-checkov, as `make test` builds it) when present, with
SHOPFLOOR_REPO set to the workspace. A command that runs `terraform` gets a CLI configuration that
installs providers from the local filesystem mirror only (TERRAFORM_PROVIDER_MIRROR, else a
registry.terraform.io folder found near /, as tests/terraform/terraformkit.py finds it) through one
shared plugin cache (SHOPFLOOR_TERRAFORM_PLUGIN_CACHE, else <repo>/var/labs/terraform-plugin-cache), so
`terraform init` works offline and costs a link, not a 600 MB copy. `prepare` already writes that
configuration to <workspace>/.terraform.tfrc, so a learner typing the same commands can
`export TF_CLI_CONFIG_FILE=$PWD/.terraform.tfrc` and get the same offline init.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEYS = {"break", "solution", "verify", "expect", "paths", "timeout"}
REQUIRED = ("break", "solution", "verify")
DEFAULT_TIMEOUT = 300.0
MAX_TIMEOUT = 3600.0
MAX_OUTPUT = 20_000  # characters of output kept per command: the lesson is at the end

PROVIDER_MIRROR_VARIABLE = "TERRAFORM_PROVIDER_MIRROR"
PLUGIN_CACHE_VARIABLE = "SHOPFLOOR_TERRAFORM_PLUGIN_CACHE"
CHECKOV_VENV = ".venv-checkov"
TERRAFORM_CONFIG = ".terraform.tfrc"  # written into the workspace when a command runs terraform


class OfflineLabError(ValueError):
    """An offline lab that cannot be prepared or run; the message says what and where."""


class MissingTool(OfflineLabError):
    """A tool the verification needs (terraform, its provider mirror, checkov) is not installed."""


@dataclass(frozen=True)
class OfflineCheck:
    ok: bool
    output: str


def validate_section(section: Mapping[str, Any] | None, lab_dir: Path | None = None) -> list[str]:
    """Problems of an `offline:` mapping, one sentence each; [] when it is usable. Given the lab
    folder, the patch files must exist there too."""
    if not isinstance(section, Mapping):
        return [f"offline: must be a mapping with {', '.join(REQUIRED)}, got {type(section).__name__}"]
    problems = [
        f"offline: unknown key {key!r} (known: {', '.join(sorted(KEYS))})" for key in section if key not in KEYS
    ]
    problems += [f"offline: {key} is missing" for key in REQUIRED if key not in section]
    for key in ("break", "solution"):
        value = section.get(key)
        if key not in section:
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(f"offline: {key} must be the name of a patch file in the lab folder, got {value!r}")
        elif Path(value).is_absolute() or ".." in Path(value).parts:
            problems.append(f"offline: {key} must be a file inside the lab folder, got {value!r}")
        elif lab_dir is not None and not (lab_dir / value).is_file():
            problems.append(f"offline: {key} names {value}, which is not a file in {lab_dir}")
    verify = section.get("verify")
    if "verify" in section and (
        not isinstance(verify, list) or not verify or not all(isinstance(c, str) and c.strip() for c in verify)
    ):
        problems.append(f"offline: verify must be a non-empty list of shell commands, got {verify!r}")
    if "expect" in section and (not isinstance(section["expect"], str) or not section["expect"].strip()):
        problems.append(f"offline: expect must be text the failing verification prints, got {section['expect']!r}")
    paths = section.get("paths")
    if "paths" in section and (
        not isinstance(paths, list)
        or not paths
        or not all(isinstance(p, str) and p and not Path(p).is_absolute() and ".." not in Path(p).parts for p in paths)
    ):
        problems.append(f"offline: paths must be a non-empty list of folders or files of the repository, got {paths!r}")
    timeout = section.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT:
        problems.append(f"offline: timeout must be seconds between 0 and {MAX_TIMEOUT:g}, got {timeout!r}")
    return problems


def _checked(section: Mapping[str, Any], lab_dir: Path | None = None) -> Mapping[str, Any]:
    problems = validate_section(section, lab_dir)
    if problems:
        where = f"{lab_dir}: " if lab_dir is not None else ""
        raise OfflineLabError(where + "; ".join(problems))
    return section


# --- prepare ------------------------------------------------------------------------------------


def tracked_files(repo: Path, paths: Sequence[str] = ()) -> list[str]:
    """The repository's tracked files (as git lists them), limited to `paths` when given."""
    try:
        listed = subprocess.run(  # noqa: S603 (an argument list, no shell)
            ["git", "-C", str(repo), "ls-files", "-z", "--", *paths],  # noqa: S607 (git from PATH, as a person runs it)
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError:
        raise OfflineLabError("git is not installed: an offline lab copies the files git tracks") from None
    if listed.returncode != 0:
        raise OfflineLabError(f"{repo}: `git ls-files` failed (is it a git checkout?): {listed.stderr.strip()}")
    return [name for name in listed.stdout.split("\0") if name]


def copy_tracked(repo: Path, workspace: Path, paths: Sequence[str] = ()) -> int:
    """Copy the tracked files (their working-tree content) into `workspace`; returns how many."""
    names = tracked_files(repo, paths)
    if not names:
        raise OfflineLabError(f"{repo}: git tracks no files under {', '.join(paths) or 'the repository'}")
    copied = 0
    for name in names:
        source = repo / name
        if not source.is_file():  # deleted in the working tree, or a submodule
            continue
        target = workspace / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
        copied += 1
    return copied


def _outside_any_repository(workspace: Path) -> dict[str, str]:
    """git's environment for `git apply` in the workspace. A workspace inside a checkout (shopfloor
    lab puts it under var/labs/) would make git apply the patch's paths relative to that checkout's
    root and silently skip every file outside the workspace, i.e. all of them: git must not look
    for a repository above the workspace."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    environment["GIT_CEILING_DIRECTORIES"] = str(workspace.resolve().parent)
    return environment


def apply_patch(workspace: Path, patch: Path, what: str) -> None:
    """`git apply` the patch in the workspace (which need not be a git checkout); refuse cleanly
    when it does not apply, saying which file and why."""
    if not patch.is_file():
        raise OfflineLabError(f"the {what} patch {patch} does not exist")
    for check in (True, False):
        arguments = ["git", "apply", "--whitespace=nowarn", *(["--check"] if check else []), str(patch.resolve())]
        applied = subprocess.run(  # noqa: S603 (an argument list, no shell)
            arguments, cwd=workspace, env=_outside_any_repository(workspace), capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        if applied.returncode != 0:
            raise OfflineLabError(
                f"the {what} patch {patch.name} does not apply to {workspace}: {applied.stderr.strip()} "
                "(was the repository changed since the lab was written, or the patch applied already?)"
            )


def prepare(repo: Path, lab_dir: Path, section: Mapping[str, Any], workspace: Path) -> None:
    """A scratch copy of the repository in `workspace` (emptied first) with the lab's fault in it."""
    _checked(section, lab_dir)
    if workspace.resolve() == repo.resolve() or repo.resolve().is_relative_to(workspace.resolve()):
        raise OfflineLabError(f"the workspace {workspace} would overwrite the repository {repo}")
    if workspace.exists():
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True)
    copy_tracked(repo, workspace, list(section.get("paths", ())))
    apply_patch(workspace, lab_dir / section["break"], "break")
    if uses_terraform(section["verify"]) and find_provider_mirror() is not None:
        # The learner runs the same terraform commands by hand: with TF_CLI_CONFIG_FILE pointing at
        # this file (the lab's README says so), their `terraform init` works offline too.
        terraform_environment(workspace, repo)


def uses_terraform(commands: Sequence[str]) -> bool:
    return any("terraform" in str(command).split() for command in commands)


def apply_solution(lab_dir: Path, section: Mapping[str, Any], workspace: Path) -> None:
    """The lab's reference fix, applied in the workspace."""
    _checked(section, lab_dir)
    if not workspace.is_dir():
        raise OfflineLabError(f"no workspace at {workspace}: start the lab first")
    apply_patch(workspace, lab_dir / section["solution"], "solution")


# --- verify -------------------------------------------------------------------------------------


def _holds_aws_provider(mirror: Path) -> bool:
    return any((mirror / "registry.terraform.io" / "hashicorp" / "aws").glob("*/*_*"))


@functools.cache
def find_provider_mirror() -> Path | None:
    """TERRAFORM_PROVIDER_MIRROR, else the parent of a registry.terraform.io folder within four
    levels of / that holds hashicorp/aws (never under /tmp, where plugin caches look the same)."""
    override = os.environ.get(PROVIDER_MIRROR_VARIABLE)
    if override:
        return Path(override) if _holds_aws_provider(Path(override)) else None
    found = subprocess.run(
        ["find", "/", "-maxdepth", "4", "-type", "d", "-name", "registry.terraform.io"],  # noqa: S607 (find from PATH)
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    mirrors = sorted(
        Path(line).parent
        for line in found.stdout.splitlines()
        if line.strip()
        and not Path(line).is_relative_to("/tmp")  # noqa: S108 (excluded, not used)
        and _holds_aws_provider(Path(line).parent)
    )
    return mirrors[0] if mirrors else None


def terraform_environment(workspace: Path, repo: Path | None = None) -> dict[str, str]:
    """Variables that make `terraform init` install from the mirror through one plugin cache: every
    lab of a checkout shares <repo>/var/labs/terraform-plugin-cache (the provider is 600 MB)."""
    mirror = find_provider_mirror()
    if mirror is None:
        raise MissingTool(
            "no Terraform provider mirror with hashicorp/aws: set TERRAFORM_PROVIDER_MIRROR to a folder holding "
            "registry.terraform.io/hashicorp/aws/<version>/<os>_<arch>/ (`terraform providers mirror <folder>`)"
        )
    default = (repo / "var" / "labs" if repo is not None else workspace.parent) / "terraform-plugin-cache"
    cache = Path(os.environ.get(PLUGIN_CACHE_VARIABLE) or default)
    cache.mkdir(parents=True, exist_ok=True)
    config = workspace / TERRAFORM_CONFIG
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/*/*"]\n  }}\n'
        "}\n"
        f'plugin_cache_dir = "{cache.resolve()}"\n'
        "plugin_cache_may_break_dependency_lock_file = true\n"
    )
    return {"TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}


def command_environment(workspace: Path, commands: Sequence[str], repo: Path | None = None) -> dict[str, str]:
    """The environment the verification commands run in (see the module's docstring)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("TF_", "VIRTUAL_ENV"))}
    path = [str(Path(sys.executable).parent)]
    if repo is not None and (repo / CHECKOV_VENV / "bin" / "checkov").is_file():
        path.append(str(repo / CHECKOV_VENV / "bin"))
    environment["PATH"] = os.pathsep.join([*path, environment.get("PATH", "")])
    environment["SHOPFLOOR_REPO"] = str(workspace)
    environment["NO_COLOR"] = "1"
    if uses_terraform(commands):
        environment |= terraform_environment(workspace, repo)
    return environment


_SHELL_WORDS = {"cd", "test", "[", "!", "if", "for", "set", "export", "(", "{", "echo", "true", "false"}


def _needed_tools(commands: Sequence[str], environment: Mapping[str, str]) -> list[str]:
    """The first word of each command that is not on PATH: named up front instead of `command not
    found` in the middle of the output."""
    missing = []
    for command in commands:
        words = command.split()
        tool = words[0] if words else ""
        if (
            tool
            and "=" not in tool
            and tool not in _SHELL_WORDS
            and shutil.which(tool, path=environment["PATH"]) is None
        ):
            missing.append(tool)
    return sorted(set(missing))


INSTALL_HINTS = {
    "terraform": "put terraform 1.11+ on PATH (https://developer.hashicorp.com/terraform/install)",
    "checkov": "build checkov's virtualenv: make .venv-checkov/.installed",
}


def verify(
    lab_dir: Path, section: Mapping[str, Any], workspace: Path, *, extra_env: Mapping[str, str] | None = None
) -> OfflineCheck:
    """Run the lab's verification commands in the workspace, in order, stopping at the first that
    fails; ok only when every one exits 0. The output is what each printed, under `$ command`."""
    _checked(section, lab_dir)
    if not workspace.is_dir():
        raise OfflineLabError(f"no workspace at {workspace}: start the lab first")
    commands = [str(command) for command in section["verify"]]
    repo = lab_dir.resolve().parents[1] if len(lab_dir.resolve().parents) > 1 else None
    environment = command_environment(workspace, commands, repo) | dict(extra_env or {})
    if missing := _needed_tools(commands, environment):
        hints = "; ".join(f"{tool}: {INSTALL_HINTS.get(tool, 'install it')}" for tool in missing)
        raise MissingTool(f"the verification needs {', '.join(missing)}, not found on PATH ({hints})")
    timeout = float(section.get("timeout", DEFAULT_TIMEOUT))
    output = []
    for command in commands:
        output.append(f"$ {command}")
        try:
            # The lab's own commands, from lab.yaml in the repository: run as the learner would type them.
            done = subprocess.run(  # noqa: S603
                ["bash", "-o", "pipefail", "-c", command],  # noqa: S607 (bash from PATH)
                cwd=workspace,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            output.append(f"(timed out after {timeout:g} s)")
            return OfflineCheck(False, "\n".join(output))
        printed = done.stdout.rstrip()
        if len(printed) > MAX_OUTPUT:
            printed = "...\n" + printed[-MAX_OUTPUT:]
        output.append(printed)
        if done.returncode != 0:
            output.append(f"(exit {done.returncode})")
            return OfflineCheck(False, "\n".join(output))
    return OfflineCheck(True, "\n".join(output))
