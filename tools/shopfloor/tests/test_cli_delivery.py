"""`shopfloor bump` and `shopfloor promote` on real git repositories in temporary folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from shopfloor.cli import main
from shopfloor.delivery.bump import bump
from shopfloor.delivery.git import commit, push_with_retry
from shopfloor.delivery.image_files import read_image
from shopfloor.repo import find_repo_root

REPO = find_repo_root(Path(__file__).parent)
DIGEST = "sha256:" + "ab" * 32
IDENTITY = {"user.name": "Delivery Test", "user.email": "delivery@test.invalid", "init.defaultBranch": "main"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def configure(clone: Path) -> None:
    for key, value in IDENTITY.items():
        git(clone, "config", key, value)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare repository holding this repo's environments/ on `main`, as the Argo CD source would."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "--quiet", "--initial-branch=main")
    configure(seed)
    shutil.copytree(REPO / "environments", seed / "environments")
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "environments")
    git(seed, "remote", "add", "origin", str(bare))
    git(seed, "push", "--quiet", "origin", "main")
    return bare


def clone(origin: Path, name: str) -> Path:
    target = origin.parent / name
    git(origin.parent, "clone", "--quiet", str(origin), str(target))
    configure(target)
    return target


def run(repo: Path, *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(["--repo", str(repo), *argv])
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def test_bump_keeps_comments_and_quoting_and_is_idempotent(origin: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = clone(origin, "work")
    path = repo / "environments" / "dev" / "catalog" / "image.yaml"
    path.write_text("# Written by CI's release job.\n" + path.read_text().replace("  digest:", "  # pinned\n  digest:"))
    before = path.read_text()

    code, out, _ = run(
        repo, "bump", "--env", "dev", "--service", "catalog", "--tag", "3f2a9c1", "--digest", DIGEST, capsys=capsys
    )
    assert code == 0
    assert "0.1.0 -> 3f2a9c1@" in out
    after = path.read_text()
    expected = before.replace('tag: "0.1.0"', 'tag: "3f2a9c1"').replace('digest: ""', f'digest: "{DIGEST}"')
    assert after == expected  # only the two values changed: the comment, order and quotes are kept

    code, out, _ = run(
        repo, "bump", "--env", "dev", "--service", "catalog", "--tag", "3f2a9c1", "--digest", DIGEST, capsys=capsys
    )
    assert code == 0
    assert "already 3f2a9c1" in out
    assert path.read_text() == after

    # A new tag without a digest must not keep the old image's digest (it would pin the old image).
    bump(repo, "dev", "catalog", "4e5d6f7")
    assert read_image(path).digest == ""


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--tag", "=-leading-dash", "malformed tag"),
        ("--tag", "=has space", "malformed tag"),
        ("--tag", "=" + "a" * 129, "malformed tag"),
        ("--digest", "=sha256:1234", "malformed digest"),
        ("--digest", "=md5:" + "0" * 64, "malformed digest"),
    ],
)
def test_bump_refuses_malformed_tags_and_digests(
    origin: Path, option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = clone(origin, "work")
    before = (repo / "environments" / "dev" / "catalog" / "image.yaml").read_text()
    argv = ["bump", "--env", "dev", "--service", "catalog"]
    argv += [option + value] if option == "--tag" else ["--tag", "v1", option + value]
    code, _, err = run(repo, *argv, capsys=capsys)
    assert code == 2
    assert message in err
    assert (repo / "environments" / "dev" / "catalog" / "image.yaml").read_text() == before


def test_bump_of_an_unknown_service_says_so(origin: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        clone(origin, "work"), "bump", "--env", "dev", "--service", "postgresql", "--tag", "v1", capsys=capsys
    )
    assert code == 2
    assert "no image file" in err


def test_promote_dry_run_prints_exactly_the_changing_image_lines(
    origin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = clone(origin, "work")
    run(
        repo,
        "bump",
        "--env",
        "dev",
        "--service",
        "orders",
        "--tag",
        "9c8b7a6",
        "--digest",
        DIGEST,
        "--commit",
        capsys=capsys,
    )
    head = git(repo, "rev-parse", "HEAD")

    code, out, _ = run(repo, "promote", "--from", "dev", "--to", "staging", "--all", "--dry-run", capsys=capsys)

    assert code == 0
    assert out.splitlines() == [
        "--- a/environments/staging/orders/image.yaml",
        "+++ b/environments/staging/orders/image.yaml",
        '-  tag: "0.1.0"',
        '-  digest: ""',
        '+  tag: "9c8b7a6"',
        f'+  digest: "{DIGEST}"',
    ]
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""


def test_promote_commits_once_on_a_new_branch_and_prints_the_pr_command(
    origin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = clone(origin, "work")
    run(repo, "bump", "--env", "dev", "--service", "orders", "--tag", "9c8b7a6", "--commit", capsys=capsys)
    run(repo, "bump", "--env", "dev", "--service", "catalog", "--tag", "1a2b3c4", "--commit", capsys=capsys)
    before = git(repo, "rev-parse", "HEAD")
    monkeypatch.setenv(
        "PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "gh").exists())
    )

    code, out, _ = run(
        repo,
        "promote",
        "--from",
        "dev",
        "--to",
        "staging",
        "--service",
        "orders",
        "--service",
        "catalog",
        capsys=capsys,
    )

    assert code == 0
    branch = git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    assert branch.startswith("promote/dev-to-staging/")
    assert git(repo, "rev-list", "--count", f"{before}..HEAD") == "1"
    message = git(repo, "log", "-1", "--format=%B")
    assert "- orders: 0.1.0 -> 9c8b7a6" in message
    assert "- catalog: 0.1.0 -> 1a2b3c4" in message
    changed = git(repo, "diff", "--name-only", f"{before}..HEAD").splitlines()
    assert sorted(changed) == ["environments/staging/catalog/image.yaml", "environments/staging/orders/image.yaml"]
    for service in ("orders", "catalog"):
        staging = (repo / "environments" / "staging" / service / "image.yaml").read_text()
        assert staging == (repo / "environments" / "dev" / service / "image.yaml").read_text()
    assert "gh pr create --base main --head " + branch in out


def test_the_tools_image_is_bumped_and_promoted_like_a_service(
    origin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The smoke Job's image: environments/<env>/tools-image.yaml, beside the service folders."""
    repo = clone(origin, "work")
    code, out, _ = run(
        repo, "bump", "--env", "dev", "--service", "tools", "--tag", "7e6d5c4", "--digest", DIGEST, "--commit",
        capsys=capsys,
    )  # fmt: skip
    assert code == 0, out
    assert "environments/dev/tools-image.yaml: 0.1.0 -> 7e6d5c4@" in out
    assert read_image(repo / "environments" / "dev" / "tools-image.yaml").digest == DIGEST
    monkeypatch.setenv(
        "PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "gh").exists())
    )

    code, out, _ = run(repo, "promote", "--from", "dev", "--to", "staging", "--all", capsys=capsys)

    assert code == 0
    assert "- tools: 0.1.0 -> 7e6d5c4@" in out
    changed = git(repo, "diff", "--name-only", "HEAD~1..HEAD").splitlines()
    assert changed == ["environments/staging/tools-image.yaml"]
    staging = (repo / "environments" / "staging" / "tools-image.yaml").read_text()
    assert staging == (repo / "environments" / "dev" / "tools-image.yaml").read_text()


def test_promote_refuses_to_skip_staging(origin: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(clone(origin, "work"), "promote", "--from", "dev", "--to", "prod", "--all", capsys=capsys)
    assert code == 2
    assert "the next environment is staging" in err


def test_promote_to_prod_refuses_an_image_staging_does_not_run(
    origin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = clone(origin, "work")
    # Edited in staging but not merged: Argo CD syncs the branch, so staging does not run it.
    bump(repo, "staging", "catalog", "5d4c3b2")
    head = git(repo, "rev-parse", "HEAD")

    code, _, err = run(repo, "promote", "--from", "staging", "--to", "prod", "--service", "catalog", capsys=capsys)
    assert code == 2
    assert "staging does not run it" in err
    assert "differs from HEAD" in err

    git(repo, "checkout", "--quiet", "--", ".")
    code, _, err = run(
        repo, "promote", "--from", "staging", "--to", "prod", "--service", "catalog", "--tag", "5d4c3b2", capsys=capsys
    )
    assert code == 2
    assert "staging runs catalog:0.1.0" in err
    assert git(repo, "rev-parse", "HEAD") == head


def test_a_bump_whose_push_is_rejected_rebases_and_lands(origin: Path) -> None:
    first, second = clone(origin, "first"), clone(origin, "second")
    for repo, service, tag in ((first, "catalog", "aaa1111"), (second, "orders", "bbb2222")):
        result = bump(repo, "dev", service, tag)
        commit(repo, [result.path], f"Bump {service}")
    assert push_with_retry(first, "main") == 1
    assert push_with_retry(second, "main") == 2  # rejected once: first landed in between

    check = clone(origin, "check")
    assert read_image(check / "environments" / "dev" / "catalog" / "image.yaml").tag == "aaa1111"
    assert read_image(check / "environments" / "dev" / "orders" / "image.yaml").tag == "bbb2222"


def test_two_concurrent_bumps_of_different_services_both_land(origin: Path) -> None:
    clones = {service: clone(origin, f"ci-{service}") for service in ("catalog", "orders", "api-gateway")}
    start = threading.Barrier(len(clones))
    failures: list[BaseException] = []

    def release(service: str, repo: Path) -> None:
        try:
            result = bump(repo, "dev", service, f"{service}-c0ffee")
            commit(repo, [result.path], f"Bump {service}")
            start.wait(timeout=10)
            push_with_retry(repo, "main")
        except BaseException as exc:  # reported in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=release, args=item) for item in clones.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []

    check = clone(origin, "check")
    for service in clones:
        assert read_image(check / "environments" / "dev" / service / "image.yaml").tag == f"{service}-c0ffee"
    assert int(git(check, "rev-list", "--count", "HEAD")) == 1 + len(clones)


def test_two_bumps_of_the_same_image_conflict_instead_of_overwriting(
    origin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = clone(origin, "first"), clone(origin, "second")
    run(first, "bump", "--env", "dev", "--service", "catalog", "--tag", "aaa1111", "--push", "main", capsys=capsys)
    code, _, err = run(
        second, "bump", "--env", "dev", "--service", "catalog", "--tag", "bbb2222", "--push", "main", capsys=capsys
    )
    assert code == 2
    assert "conflicts" in err
    assert read_image(clone(origin, "check") / "environments" / "dev" / "catalog" / "image.yaml").tag == "aaa1111"
