"""Issue 16 item 5 without a scanner: the SBOM each image carries is checked against its lock.

The SBOM here is real: cyclonedx-py (the tool the image build runs, same pinned version) reads a
fresh virtualenv holding FastAPI's installed tree at the versions requirements/dev.txt pins. The
checker must accept it, the CycloneDX 1.6 schema (shipped with cyclonedx-python-lib, read offline) must
accept it, and each way of breaking it must be named. The images' own SBOMs are checked the same
way in tests/images after a real podman build.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from shopfloor.delivery.images import ImageSpec, check_sbom
from shopfloor.repo import find_repo_root
from shopfloor.security.sbom import Expected, canonical_name, expected_for, locked_versions, sbom_problems

REPO = find_repo_root(Path(__file__).parent)
VENV = Path(sys.prefix)
# FastAPI and everything it needs: a real dependency tree, small enough to read in a second.
SMALL_ENVIRONMENT = frozenset(
    {"fastapi", "starlette", "pydantic", "pydantic-core", "anyio", "idna", "typing-extensions", "annotated-types"}
    | {"typing-inspection", "annotated-doc"}
)


@pytest.fixture(scope="module")
def venv_sbom(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """cyclonedx-py's SBOM of a small real environment: a fresh venv holding the installed metadata
    (the .dist-info folders, which are what an SBOM of an environment is read from) of FastAPI and
    what it needs, copied from the repo venv, so every version is the one dev.txt pins."""
    scratch = tmp_path_factory.mktemp("sbom")
    venv = scratch / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [site] = venv.glob("lib/python3*/site-packages")
    for info in Path(sysconfig.get_paths()["purelib"]).glob("*.dist-info"):
        if canonical_name(metadata.Distribution.at(info).metadata["Name"]) in SMALL_ENVIRONMENT:
            shutil.copytree(info, site / info.name)
    out = scratch / "venv.cdx.json"
    command = [
        str(VENV / "bin" / "cyclonedx-py"),
        "environment",
        "--pyproject",
        str(REPO / "apps/catalog/pyproject.toml"),
    ]
    command += ["--output-reproducible", "--output-file", str(out), str(venv)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def venv_expected() -> Expected:
    pinned = locked_versions((REPO / "requirements/dev.txt").read_text())
    locked = {name: pinned[canonical_name(name)] for name in SMALL_ENVIRONMENT}
    return Expected(root="shopfloor-catalog", locked=locked, own=frozenset({"shopfloor-catalog"}))


def test_the_lock_parser_reads_every_pin() -> None:
    lock = (REPO / "requirements/images/catalog.txt").read_text()
    pins = locked_versions(lock)
    assert pins["fastapi"]
    assert pins["sqlalchemy"]
    assert len(pins) == sum(1 for line in lock.splitlines() if "==" in line and not line.startswith(" "))


def test_a_real_sbom_of_a_locked_environment_passes_and_is_valid_cyclonedx(venv_sbom: dict[str, Any]) -> None:
    text = json.dumps(venv_sbom)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    assert sbom_problems(text, venv_expected()) == []
    assert {canonical_name(c["name"]) for c in venv_sbom["components"]} == set(SMALL_ENVIRONMENT)


def broken(sbom: dict[str, Any], how: str) -> dict[str, Any]:
    bom = copy.deepcopy(sbom)
    components = bom["components"]
    fastapi = next(c for c in components if c["name"].lower() == "fastapi")
    if how == "other-version":
        fastapi["version"] = "0.0.1"
        fastapi["purl"] = "pkg:pypi/fastapi@0.0.1"
    elif how == "outside-the-lock":
        components.append({"type": "library", "name": "leftpad", "version": "1.0", "purl": "pkg:pypi/leftpad@1.0"})
    elif how == "missing":
        components.remove(fastapi)
    elif how == "purl-disagrees":
        fastapi["purl"] = "pkg:pypi/starlette@" + fastapi["version"]
    elif how == "not-cyclonedx":
        bom["bomFormat"] = "SPDX"
    elif how == "other-root":
        bom["metadata"]["component"]["name"] = "shopfloor-orders"
    return bom


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("other-version", "fastapi is 0.0.1 in the image but the lock pins"),
        ("outside-the-lock", "leftpad 1.0 is in the image but not in its lock"),
        ("missing", "is pinned by the lock but not in the image"),
        ("purl-disagrees", "does not name pkg:pypi/fastapi@"),
        ("not-cyclonedx", "not a CycloneDX BOM"),
        ("other-root", "the main component (metadata.component) is not shopfloor-catalog"),
    ],
)
def test_each_way_of_breaking_the_sbom_is_named(venv_sbom: dict[str, Any], how: str, problem: str) -> None:
    problems = sbom_problems(json.dumps(broken(venv_sbom, how)), venv_expected())
    assert len(problems) == 1, problems
    assert problem in problems[0]


def test_a_schema_breaking_sbom_is_refused_by_the_cyclonedx_schema(venv_sbom: dict[str, Any]) -> None:
    bom = copy.deepcopy(venv_sbom)
    bom["components"][0]["type"] = "spaceship"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom)) is not None


def test_what_each_image_must_hold_comes_from_its_lock() -> None:
    catalog = expected_for(REPO, "catalog", service=True)
    assert catalog.root == "shopfloor-catalog"
    assert catalog.own == {"shopfloor-catalog", "shopfloor-common"}
    assert catalog.locked == locked_versions((REPO / "requirements/images/catalog.txt").read_text())
    tools = expected_for(REPO, "tools", service=False)
    assert tools.root == "shopfloor"
    assert tools.locked == {}
    assert tools.own == frozenset({"shopfloor"})
    with pytest.raises(ValueError, match="cannot read the image's lock"):
        expected_for(REPO, "no-such-service", service=True)


def test_the_build_refuses_an_image_whose_sbom_disagrees_with_its_lock(tmp_path: Path) -> None:
    """check_sbom as `shopfloor images build` calls it, with an engine that is a script printing a
    given SBOM (the real podman path runs in tests/images)."""
    from shopfloor.delivery.images import BuildOptions, ImagesError

    lock = locked_versions((REPO / "requirements/images/frontend.txt").read_text())
    components = [{"type": "library", "name": n, "version": v, "purl": f"pkg:pypi/{n}@{v}"} for n, v in lock.items()]
    components.append({"type": "library", "name": "shopfloor-common", "version": "0.1.0"})
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "metadata": {"component": {"name": "shopfloor-frontend"}}}
    engine = tmp_path / "engine"
    sbom_file = tmp_path / "sbom.json"
    engine.write_text(f"#!/bin/sh\ncat {sbom_file}\n")
    engine.chmod(0o755)
    spec = ImageSpec("frontend", "service")
    options = BuildOptions(repo=REPO, images=["frontend"], sbom_dir=tmp_path / "sboms")

    sbom_file.write_text(json.dumps({**bom, "components": components}))
    kept = check_sbom(str(engine), "localhost/shopfloor/frontend:test", spec, options, {})
    assert kept is not None
    assert json.loads(Path(kept).read_text())["metadata"]["component"]["name"] == "shopfloor-frontend"

    extra = {"type": "library", "name": "requests", "version": "2.0", "purl": "pkg:pypi/requests@2.0"}
    sbom_file.write_text(json.dumps({**bom, "components": [*components, extra]}))
    with pytest.raises(
        ImagesError, match=r"(?s)frontend:test: its SBOM .* requests 2.0 is in the image but not in its lock"
    ):
        check_sbom(str(engine), "localhost/shopfloor/frontend:test", spec, options, {})
