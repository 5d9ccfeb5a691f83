"""Adding a service touches four places (docs/architecture.md, "Adding a service"): its folder under
apps/, its chart defaults (charts/service/services/<name>.yaml), a folder per environment that runs it
(environments/<env>/<name>/), and the ECR repositories' list. Here a throwaway service is added to a
copy of the repository in exactly those places, and everything that must pick it up does: the local
stack's discovery, the rendered manifests, Argo CD's generated Applications, the images and
`shopfloor changed`, and the CI workflow's path filters. A fifth place would show up as a failure here."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfloor.delivery.changed import changed_images
from shopfloor.delivery.images import image_names
from shopfloor.delivery.render import environments, render_environments
from shopfloor.local.discovery import discover_services
from shopfloor.local.stack import StackOptions, select_services
from shopfloor.repo import find_repo_root

from .gitops.argocdkit import bootstrap, generate
from .terraform.terraformkit import load_hcl

REPO = find_repo_root(Path(__file__).parent)
NEW = "ratings"
TEMPLATE = "catalog"  # the service the throwaway one is made from


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's tracked files (as they are in the working tree), committed once."""
    repo = tmp_path_factory.mktemp("repo")
    for name in git(REPO, "ls-files", "-z").split("\0"):
        source = REPO / name
        if name and source.is_file() and not name.startswith("docs/screenshots/"):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "--quiet", "-m", "base")
    return repo


def add_the_service(repo: Path) -> None:
    """The four places, and nothing else."""
    # 1. apps/<name>: a package with its [tool.shopfloor] table (its own port).
    app = repo / "apps" / NEW
    (app / "src" / NEW).mkdir(parents=True)
    (app / "src" / NEW / "__init__.py").write_text('"""Ratings of products."""\n')
    pyproject = (repo / "apps" / TEMPLATE / "pyproject.toml").read_text()
    pyproject = pyproject.replace(f'name = "shopfloor-{TEMPLATE}"', f'name = "shopfloor-{NEW}"')
    pyproject = re.sub(r"(?m)^port = \d+$", "port = 8090", pyproject).replace(f"src/{TEMPLATE}", f"src/{NEW}")
    (app / "pyproject.toml").write_text(pyproject)
    # 2. its chart defaults.
    defaults = yaml.safe_load((repo / "charts/service/services" / f"{TEMPLATE}.yaml").read_text())
    text = yaml.safe_dump(defaults).replace(TEMPLATE, NEW).replace("8081", "8090")
    (repo / "charts/service/services" / f"{NEW}.yaml").write_text(text)
    # 3. a folder per environment: its values and its image file.
    for environment in environments(repo):
        source, target = repo / "environments" / environment / TEMPLATE, repo / "environments" / environment / NEW
        target.mkdir()
        for file in ("values.yaml", "image.yaml"):
            (target / file).write_text((source / file).read_text().replace(TEMPLATE, NEW))
    # 4. its image repository.
    variables = repo / "terraform/modules/ecr/variables.tf"
    variables.write_text(variables.read_text().replace('"orders", "tools"]', f'"orders", "{NEW}", "tools"]'))


@pytest.fixture(scope="module")
def added(copy: Path) -> tuple[Path, str, str]:
    base = git(copy, "rev-parse", "HEAD").strip()
    add_the_service(copy)
    git(copy, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    git(copy, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "--quiet", "-m", f"add {NEW}")
    return copy, base, git(copy, "rev-parse", "HEAD").strip()


def test_make_run_discovers_it(added: tuple[Path, str, str]) -> None:
    repo, _, _ = added
    assert NEW in [s.name for s in discover_services(repo)]
    chosen = select_services(repo, StackOptions(repo=repo, state_dir=repo / "var"))
    assert next(s for s in chosen if s.name == NEW).port == 8090


def test_every_environment_renders_it(added: tuple[Path, str, str]) -> None:
    repo, _, _ = added
    for rendered in render_environments(repo, environments(repo)):
        kinds = {(m.kind, m.body["metadata"]["name"]) for m in rendered.manifests}
        assert ("Deployment", NEW) in kinds, rendered.environment
        assert ("Service", f"{NEW}-service") in kinds, rendered.environment


def test_argo_cd_generates_its_application_in_every_cluster(added: tuple[Path, str, str]) -> None:
    repo, _, _ = added
    for environment in environments(repo):
        _, root = bootstrap(repo, environment)
        generated: list[dict[str, Any]] = []
        for application_set in root.of_kind("ApplicationSet"):
            generated += generate(repo, application_set)
        assert f"{environment}-{NEW}" in [a["metadata"]["name"] for a in generated]


def test_it_gets_an_image_and_a_change_to_it_rebuilds_only_it(added: tuple[Path, str, str]) -> None:
    repo, base, head = added
    assert NEW in image_names(repo)
    assert [spec.name for spec in changed_images(repo, base, head)] == [NEW]


def test_it_gets_an_image_repository(added: tuple[Path, str, str]) -> None:
    repo, _, _ = added
    assert set(ecr_repositories(repo)) == set(image_names(repo))


def test_the_ci_path_filters_run_its_image_and_browser_jobs(added: tuple[Path, str, str]) -> None:
    repo, base, head = added
    workflow = yaml.safe_load((repo / ".github/workflows/ci.yml").read_text())
    step = next(s for s in workflow["jobs"]["changes"]["steps"] if "paths-filter" in str(s.get("uses", "")))
    filters: dict[str, list[str]] = yaml.safe_load(step["with"]["filters"])
    changed = git(repo, "diff", "--name-only", base, head).split()
    triggered = {name for name, globs in filters.items() if any(_glob(g).fullmatch(p) for g in globs for p in changed)}
    assert {"python", "images", "browser", "manifests"} <= triggered


def test_the_real_ecr_list_names_every_image() -> None:
    """The one hand-kept list of the four places, kept honest on the real repository."""
    assert set(ecr_repositories(REPO)) == set(image_names(REPO))


def ecr_repositories(repo: Path) -> list[str]:
    variables = load_hcl(repo / "terraform/modules/ecr/variables.tf")["variable"]
    found: list[str] = next(block["services"]["default"] for block in variables if "services" in block)
    return found


def _glob(pattern: str) -> re.Pattern[str]:
    """A paths-filter glob (picomatch: `**` any depth, `*` within one path segment) as a regex."""
    regex = ""
    for part in re.split(r"(\*\*/?|\*)", pattern):
        regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*"}.get(part, re.escape(part))
    return re.compile(regex)
