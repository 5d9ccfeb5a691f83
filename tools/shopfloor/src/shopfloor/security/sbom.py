"""The SBOM every image carries, checked against what the image was meant to hold.

cyclonedx-py (from the hash-locked build tools, requirements/images/build.txt) writes a CycloneDX
document of the image's Python environment to SBOM_PATH during the build. `shopfloor images build`
reads it back out of each image it builds and refuses the build when it is not a CycloneDX BOM, or
when its packages are not exactly the lock the image was built from: every package the lock pins,
at the pinned version, and nothing else but the repository's own packages. No vulnerability
scanner runs on these machines (docs/security.md), so this is what is checked here; the SBOM is
also what a scanner elsewhere can read (`trivy sbom`).

Standard library only: the tools image and CodeBuild run this without the `full` extra.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

SBOM_PATH = "/opt/sbom/python.cdx.json"
# uv writes one `name==version \` line per pinned package (extras, if any, in brackets).
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\\;]+)", re.MULTILINE)
_SPEC_VERSION = re.compile(r"^1\.[4-9]$")
_PYPI_PURL = re.compile(r"^pkg:pypi/(?P<name>[^@?#/]+)@(?P<version>[^?#]+)(?:[?#].*)?$")


class SbomError(ValueError):
    """The SBOM or a lock is unusable; the message says why."""


def canonical_name(name: str) -> str:
    """PEP 503's normalised name: how a lock, a purl and pip name the same package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock_text: str) -> dict[str, str]:
    """{canonical name: pinned version} of a `uv pip compile` lock."""
    return {canonical_name(name): version for name, version in _PIN.findall(lock_text)}


@dataclass(frozen=True)
class Expected:
    """What one image's Python environment must hold: `root` is the SBOM's main component (the
    service or the CLI), `locked` the lock's pins and `own` the repository's packages beside them."""

    root: str
    locked: dict[str, str]
    own: frozenset[str]


def expected_for(repo: Path, image: str, *, service: bool) -> Expected:
    """A service image holds its lock (requirements/images/<service>.txt), the shared library and
    itself; the tools image holds the CLI's base install alone (it installs no lock)."""
    if not service:
        return Expected(root="shopfloor", locked={}, own=frozenset({"shopfloor"}))
    lock = repo / "requirements" / "images" / f"{image}.txt"
    try:
        locked = locked_versions(lock.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SbomError(f"{lock}: cannot read the image's lock ({exc.strerror})") from None
    root = f"shopfloor-{image}"
    return Expected(root=root, locked=locked, own=frozenset({root, "shopfloor-common"}))


def _purl_package(purl: str) -> tuple[str, str] | None:
    """(canonical name, version) of a pkg:pypi purl; None for anything else. Purls keep the
    distribution's own spelling (ruamel.yaml) and percent-encode the version (1!2.0 is 1%212.0)."""
    match = _PYPI_PURL.match(purl)
    if match is None:
        return None
    return canonical_name(unquote(match["name"])), unquote(match["version"])


def sbom_problems(text: str, expected: Expected) -> list[str]:
    """Every way the SBOM is not a CycloneDX BOM of exactly the expected packages, one sentence each."""
    try:
        bom = json.loads(text)
    except ValueError as exc:
        return [f"not JSON ({exc})"]
    if not isinstance(bom, dict) or bom.get("bomFormat") != "CycloneDX":
        return ["not a CycloneDX BOM (bomFormat is not CycloneDX)"]
    problems = []
    if not _SPEC_VERSION.match(str(bom.get("specVersion", ""))):
        problems.append(f"specVersion {bom.get('specVersion')!r} is not a CycloneDX 1.4-1.9 version")
    root = bom.get("metadata", {}).get("component", {}) if isinstance(bom.get("metadata"), dict) else {}
    if not isinstance(root, dict) or canonical_name(str(root.get("name", ""))) != expected.root:
        problems.append(f"the main component (metadata.component) is not {expected.root}")
    # CycloneDX leaves out an empty components list (the tools image holds the CLI alone).
    components = bom.get("components", [])
    if not isinstance(components, list):
        return [*problems, "components is not a list"]

    found: dict[str, str] = {}
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            problems.append(f"components[{index}] is not an object")
            continue
        name, version = canonical_name(str(component.get("name", ""))), str(component.get("version", ""))
        if not name or not version:
            problems.append(f"components[{index}] has no name or no version")
            continue
        purl = str(component.get("purl", ""))
        # The repository's own packages are built from local wheels: no index, so no purl.
        if name not in expected.own and _purl_package(purl) != (name, version):
            problems.append(f"{name} {version}: purl {purl!r} does not name pkg:pypi/{name}@{version}")
        if name in found:
            problems.append(f"{name} is listed twice")
        found[name] = version

    for name, version in sorted(found.items()):
        if name in expected.own:
            continue
        pinned = expected.locked.get(name)
        if pinned is None:
            problems.append(f"{name} {version} is in the image but not in its lock")
        elif pinned != version:
            problems.append(f"{name} is {version} in the image but the lock pins {pinned}")
    for name, pinned in sorted(expected.locked.items()):
        if name not in found:
            problems.append(f"{name}=={pinned} is pinned by the lock but not in the image")
    missing_own = expected.own - {expected.root} - set(found)
    problems.extend(f"{name} (the repository's own package) is not in the image" for name in sorted(missing_own))
    return problems
