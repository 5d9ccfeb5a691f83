"""The deploy wrappers (scripts/deploy/*.sh) run for real: bump and promote on real git repositories
with a bare origin (parallel bumps included), render with Helm's engine, smoke against the real
services, the image build through a recording engine, and configure-environments.sh through a
recording `gh`. The .bat twins cannot run here (no cmd.exe): they are checked to call the same
subcommand the same way."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfloor.security.sbom import SBOM_PATH, locked_versions
from tests.ci.cikit import DEPLOY, REPO, WRAPPER_CALL
from tests.conftest import StartService

DIGEST = "sha256:" + "ab" * 32
IDENTITY = {"user.name": "CI Test", "user.email": "ci@test.invalid"}
CONFIGURE_ENVIRONMENTS = "scripts/github/configure-environments.sh"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def script(
    repo: Path, relative: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(repo / relative), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env or clean_env(),
        check=False,
        timeout=120,
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SHOPFLOOR_REPO" and not k.startswith("GIT_")}
    return {**env, **extra}


def fake_tool(folder: Path, name: str, body: str) -> Path:
    """A stand-in for a tool on PATH that records each call (one JSON array of arguments a line)."""
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / name
    tool.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"with open(os.environ['CALLS'], 'a') as f: f.write(json.dumps([{name!r}, *sys.argv[1:]]) + '\\n')\n" + body
    )
    tool.chmod(0o755)
    return tool


def calls(path: Path) -> list[Any]:
    """Each recorded line: a call's arguments (a list), or a request body a stand-in kept (a dict)."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare origin holding environments/ and scripts/deploy/ on main, as the workflows see it."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "--quiet", "--initial-branch=main")
    for key, value in IDENTITY.items():
        git(seed, "config", key, value)
    shutil.copytree(REPO / "environments", seed / "environments")
    shutil.copytree(DEPLOY, seed / "scripts" / "deploy", ignore=shutil.ignore_patterns("*.bat"))
    (seed / ".gitignore").write_text(".venv\n")
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "environments")
    git(seed, "remote", "add", "origin", str(bare))
    git(seed, "push", "--quiet", "origin", "main")
    return bare


def checkout(origin: Path, name: str, *, venv: bool = True) -> Path:
    """A clone as CI has it; with `venv`, its .venv is the repo's (the wrappers prefer it)."""
    target = origin.parent / name
    git(origin.parent, "clone", "--quiet", str(origin), str(target))
    for key, value in IDENTITY.items():
        git(target, "config", key, value)
    if venv:
        (target / ".venv").symlink_to(REPO / ".venv")
    return target


def image_at(origin: Path, ref: str, env: str, service: str) -> dict[str, str]:
    text = git(origin, "show", f"{ref}:environments/{env}/{service}/image.yaml")
    image: dict[str, str] = yaml.safe_load(text)["image"]
    return image


def test_parallel_bumps_all_land_on_origin(origin: Path) -> None:
    """Three releases bump three services at once from stale clones: each push that loses the race
    is rebased and retried, and no bump is lost."""
    services = ["catalog", "orders", "api-gateway"]
    clones = {service: checkout(origin, f"release-{service}") for service in services}
    processes = {
        service: subprocess.Popen(
            [
                str(clone / "scripts/deploy/bump.sh"),
                *("--env", "dev", "--service", service, "--tag", f"{service}-sha", "--digest", DIGEST),
                *("--push", "main"),
            ],
            cwd=clone,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=clean_env(),
        )
        for service, clone in clones.items()
    }
    outputs = {service: process.communicate(timeout=120)[0] for service, process in processes.items()}
    assert all(process.returncode == 0 for process in processes.values()), outputs
    for service in services:
        assert image_at(origin, "main", "dev", service) == {
            "repository": f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/shopfloor/{service}",
            "tag": f"{service}-sha",
            "digest": DIGEST,
        }
        assert "pushed to origin/main" in outputs[service]
    assert len(git(origin, "log", "--format=%s", "main").splitlines()) == 1 + len(services)


def test_bump_refuses_a_malformed_digest_and_changes_nothing(origin: Path) -> None:
    clone = checkout(origin, "work")
    result = script(
        clone, "scripts/deploy/bump.sh", "--env", "dev", "--service", "catalog", "--tag", "abc", "--digest", "sha256:12"
    )
    assert result.returncode == 2
    assert "malformed digest" in result.stderr
    assert git(clone, "status", "--porcelain") == ""


def test_promote_opens_the_pull_request_through_gh(origin: Path, tmp_path: Path) -> None:
    release = checkout(origin, "release")
    bumped = script(
        release, "scripts/deploy/bump.sh", "--env", "dev", "--service", "catalog", "--tag", "c0ffee", "--push", "main"
    )
    assert bumped.returncode == 0, bumped.stderr
    clone = checkout(origin, "promote")
    record = tmp_path / "gh-calls"
    tools = tmp_path / "bin"
    fake_tool(tools, "gh", "sys.exit(0)\n")
    env = clean_env(PATH=f"{tools}{os.pathsep}{os.environ['PATH']}", CALLS=str(record))

    result = script(
        clone, "scripts/deploy/promote.sh", "--from", "dev", "--to", "staging", "--service", "catalog", env=env
    )
    assert result.returncode == 0, result.stderr
    assert "opened a pull request with gh" in result.stdout
    [call] = calls(record)
    assert call[:5] == ["gh", "pr", "create", "--base", "main"]
    branch = call[call.index("--head") + 1]
    assert branch.startswith("promote/dev-to-staging/")
    # The branch is on origin, with staging now running what dev runs; main's staging is untouched.
    assert image_at(origin, branch, "staging", "catalog")["tag"] == "c0ffee"
    assert image_at(origin, "main", "staging", "catalog")["tag"] == "0.1.0"

    # Skipping staging is refused, and nothing is pushed or opened.
    result = script(clone, "scripts/deploy/promote.sh", "--from", "dev", "--to", "prod", "--all", env=env)
    assert result.returncode == 2
    assert len(calls(record)) == 1


def test_render_writes_what_argocd_applies(tmp_path: Path) -> None:
    result = script(REPO, "scripts/deploy/render.sh", "--env", "dev", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    documents = [d for d in yaml.safe_load_all((tmp_path / "dev.yaml").read_text()) if d]
    kinds = {d["kind"] for d in documents}
    assert {"Deployment", "Service"} <= kinds
    images = {
        c["image"] for d in documents if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert "111122223333.dkr.ecr.eu-west-1.amazonaws.com/shopfloor/catalog:0.1.0" in images

    result = script(REPO, "scripts/deploy/render.sh", "--env", "nowhere", "--out", str(tmp_path))
    assert result.returncode != 0


async def test_smoke_passes_against_the_services_and_fails_when_nothing_answers(start_service: StartService) -> None:
    await start_service("catalog")
    await start_service("orders")
    # As in a cluster: /metrics and the health paths on the management port, off the public one.
    from shopfloor_common.localserver import free_port

    gateway = await start_service("api-gateway", env={"MANAGEMENT_PORT": str(free_port())})
    result = script(REPO, "scripts/deploy/smoke.sh", "--base-url", gateway.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   product list" in result.stdout

    result = script(REPO, "scripts/deploy/smoke.sh", "--base-url", f"http://127.0.0.1:{free_port()}", "--timeout", "1")
    assert result.returncode == 1
    assert "no answer" in result.stdout


def test_build_images_builds_pushes_and_reports_through_the_engine(origin: Path, tmp_path: Path) -> None:
    """The CodeBuild path: build-images.sh (docker engine, here a recording stand-in), the check of
    the image's SBOM against its lock before the push, its report's digest, then the bump of dev
    with that digest."""
    record = tmp_path / "docker-calls"
    tools = tmp_path / "bin"
    # What cyclonedx-py writes into a catalog image built from its lock (names, versions, purls).
    lock = locked_versions((REPO / "requirements/images/catalog.txt").read_text())
    components = [{"type": "library", "name": n, "version": v, "purl": f"pkg:pypi/{n}@{v}"} for n, v in lock.items()]
    components.append({"type": "library", "name": "shopfloor-common", "version": "0.1.0"})
    sbom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "metadata": {"component": {"name": "shopfloor-catalog"}}}
    (tmp_path / "sbom.json").write_text(json.dumps({**sbom, "components": components}))
    fake_tool(
        tools,
        "docker",
        "args = sys.argv[1:]\n"
        "if args[:2] == ['image', 'inspect']:\n"
        f"    print('{{}}@{DIGEST}'.format(args[-1].rpartition(':')[0]) if 'RepoDigests' in args[3] else 4242)\n"
        f"if args[0] == 'run' and args[-2:] == ['cat', '{SBOM_PATH}']:\n"
        f"    print(open({str(tmp_path / 'sbom.json')!r}).read())\n",
    )
    env = clean_env(PATH=f"{tools}{os.pathsep}{os.environ['PATH']}", CALLS=str(record))
    prefix = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/shopfloor"
    report = tmp_path / "images.json"
    result = script(
        REPO,
        "scripts/deploy/build-images.sh",
        *("--engine", "docker", "--repository-prefix", prefix, "--tag", "f00d", "--revision", "f00d"),
        *("--push", "--report", str(report), "catalog"),
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    made = calls(record)
    build = next(call for call in made if call[1] == "build")
    assert build[build.index("--file") + 1] == "Dockerfile"
    assert build[build.index("--target") + 1] == "service"
    assert f"{prefix}/catalog:f00d" in build
    for argument in ("SERVICE=catalog", "PORT=8081", "REVISION=f00d"):
        assert argument in build
    read_sbom = ["docker", "run", "--rm", "--network=none", f"{prefix}/catalog:f00d", "cat", SBOM_PATH]
    assert made.index(read_sbom) < made.index(["docker", "push", f"{prefix}/catalog:f00d"])
    [row] = json.loads(report.read_text())
    assert (row["name"], row["image"], row["digest"]) == ("catalog", f"{prefix}/catalog:f00d", DIGEST)

    clone = checkout(origin, "codebuild")
    bumped = script(
        clone, "scripts/deploy/bump.sh", "--env", "dev", "--service", row["name"], "--tag", "f00d",
        "--digest", row["digest"], "--push", "main",
    )  # fmt: skip
    assert bumped.returncode == 0, bumped.stderr
    assert image_at(origin, "main", "dev", "catalog")["digest"] == DIGEST

    result = script(REPO, "scripts/deploy/build-images.sh", "--engine", "docker", "no-such-service", env=env)
    assert result.returncode != 0
    assert "no-such-service" in result.stderr


def test_the_wrappers_fall_back_to_shopfloor_on_path_and_say_when_there_is_none(origin: Path, tmp_path: Path) -> None:
    clone = checkout(origin, "no-venv", venv=False)
    record = tmp_path / "shopfloor-calls"
    tools = tmp_path / "bin"
    fake_tool(tools, "shopfloor", "")
    env = clean_env(PATH=f"{tools}{os.pathsep}/usr/bin{os.pathsep}/bin", CALLS=str(record))
    result = script(clone, "scripts/deploy/bump.sh", "--env", "dev", "--service", "catalog", "--tag", "x", env=env)
    assert result.returncode == 0, result.stderr
    assert calls(record) == [
        ["shopfloor", "--repo", str(clone), "bump", "--env", "dev", "--service", "catalog", "--tag", "x"]
    ]

    env = clean_env(PATH=f"/usr/bin{os.pathsep}/bin")
    result = script(clone, "scripts/deploy/smoke.sh", "--base-url", "http://127.0.0.1:9", env=env)
    assert result.returncode == 127
    assert "make venv" in result.stderr

    # With the repository's .venv present it wins over PATH.
    (clone / ".venv").symlink_to(REPO / ".venv")
    env = clean_env(PATH=f"{tools}{os.pathsep}{os.environ['PATH']}", CALLS=str(record))
    result = script(clone, "scripts/deploy/bump.sh", "--env", "dev", "--service", "catalog", "--tag", "y", env=env)
    assert result.returncode == 0, result.stderr
    assert len(calls(record)) == 1
    assert image_at_worktree(clone, "catalog")["tag"] == "y"


def image_at_worktree(clone: Path, service: str) -> dict[str, str]:
    image: dict[str, str] = yaml.safe_load((clone / "environments" / "dev" / service / "image.yaml").read_text())[
        "image"
    ]
    return image


def test_every_wrapper_has_a_bat_twin_calling_the_same_subcommand() -> None:
    wrappers = sorted(path for path in DEPLOY.glob("*.sh") if path.name != "common.sh")
    assert {path.stem for path in wrappers} == {"bump", "promote", "smoke", "render", "build-images"}
    for wrapper in wrappers:
        [subcommand] = WRAPPER_CALL.findall(wrapper.read_text(encoding="utf-8"))
        twin = wrapper.with_suffix(".bat")
        raw = twin.read_bytes()
        assert raw.count(b"\r\n") == raw.count(b"\n"), f"{twin.name}: cmd.exe wants CRLF line ends"
        lines = raw.decode("ascii").splitlines()
        assert lines[0] == "@echo off"
        assert r'set "SHOPFLOOR=%~dp0..\..\.venv\Scripts\shopfloor.exe"' in lines
        assert 'if not exist "%SHOPFLOOR%" set "SHOPFLOOR=shopfloor"' in lines
        assert f'"%SHOPFLOOR%" --repo "%REPO_ROOT%" {subcommand} %*' in lines, twin.name
        assert lines[-1] == "exit /b %ERRORLEVEL%"
    # Every .sh is executable; the .bat files are the only other files next to them.
    assert all(os.access(path, os.X_OK) for path in wrappers)
    assert {p.suffix for p in DEPLOY.iterdir()} == {".sh", ".bat"}


def test_configure_environments_puts_prod_behind_required_reviewers(tmp_path: Path) -> None:
    record = tmp_path / "gh-calls"
    tools = tmp_path / "bin"
    fake_tool(
        tools,
        "gh",
        "if sys.argv[1:3] == ['api', 'orgs/shopfloor/teams/platform']: print(101)\n"
        "elif sys.argv[1:3] == ['api', 'orgs/shopfloor/teams/release-managers']: print(202)\n"
        "elif '--input' in sys.argv:\n"
        "    with open(os.environ['CALLS'], 'a') as f: f.write(json.dumps(json.load(sys.stdin)) + '\\n')\n"
        "else: sys.exit(1)\n",
    )
    env = clean_env(PATH=f"{tools}{os.pathsep}{os.environ['PATH']}", CALLS=str(record))
    result = script(REPO, CONFIGURE_ENVIRONMENTS, "shopfloor/shopfloor", "platform", "release-managers", env=env)
    assert result.returncode == 0, result.stderr
    made = calls(record)
    puts = [call for call in made if isinstance(call, list) and "--method" in call]
    assert [call[call.index("PUT") + 1] for call in puts] == [
        "repos/shopfloor/shopfloor/environments/prod",
        "repos/shopfloor/shopfloor/environments/staging",
        "repos/shopfloor/shopfloor/actions/permissions/workflow",
    ]
    prod_body = made[made.index(puts[0]) + 1]
    assert prod_body["reviewers"] == [{"type": "Team", "id": 101}, {"type": "Team", "id": 202}]
    assert prod_body["prevent_self_review"] is True
    assert made[-1] == {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": True}

    result = script(REPO, CONFIGURE_ENVIRONMENTS, "shopfloor/shopfloor", env=env)
    assert result.returncode == 2
    assert "Usage" in result.stderr
