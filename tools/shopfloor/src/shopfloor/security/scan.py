"""The image scan policy, one for the release workflow and `make images`: fail on HIGH or CRITICAL
vulnerabilities that have a fix (Trivy's --severity HIGH,CRITICAL --ignore-unfixed --exit-code 1),
with the dated exceptions of .trivyignore.yaml. `make images` scans what it built when Trivy is on
the PATH; without it, it says so and how to install it (these machines have no scanner and reach no
container registry, where Trivy's vulnerability database is published)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

SEVERITY = "HIGH,CRITICAL"
IGNORE_FILE = ".trivyignore.yaml"
MAX_IGNORE_DAYS = 90
# Package URL: pkg:type/namespace/name@version, namespace and version optional.
PURL = re.compile(r"^pkg:(?P<type>[a-z][a-z0-9.+-]*)/(?:[^/@?#]+/)*(?P<name>[^/@?#]+)(?:@[^?#]+)?(?:[?#].*)?$")
VULNERABILITY_ID = re.compile(r"^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3})$")
INSTALL_HINT = (
    "install Trivy (https://trivy.dev/latest/getting-started/installation/) and let it fetch its database once "
    "(it is published on ghcr.io); the release workflow scans every image either way"
)


class ScanError(ValueError):
    """The ignore list or the images report is unusable; the message says why."""


def scan_command(trivy: str, image: str, repo: Path) -> list[str]:
    return [
        trivy, "image", "--image-src", "podman,docker", "--severity", SEVERITY, "--ignore-unfixed",
        "--exit-code", "1", "--ignorefile", str(repo / IGNORE_FILE), "--no-progress", image,
    ]  # fmt: skip


def images_pinned(repo: Path) -> set[str]:
    """The Python packages some image holds: every name pinned by a service image's lock."""
    from shopfloor.security.sbom import locked_versions

    pinned: set[str] = set()
    for lock in sorted((repo / "requirements" / "images").glob("*.txt")):
        if lock.name != "build.txt":
            pinned |= set(locked_versions(lock.read_text(encoding="utf-8")))
    return pinned


def purl_problems(where: str, purls: object, pinned: set[str] | None) -> list[str]:
    """An exception names the packages it covers (Trivy's `purls`), so a CVE let through in one
    package is still caught in another; a PyPI package must be one an image still holds."""
    from shopfloor.security.sbom import canonical_name

    if not isinstance(purls, list) or not purls:
        return [f"{where}: no purls naming the package(s) it covers (e.g. pkg:pypi/NAME or pkg:deb/debian/NAME)"]
    problems = []
    for purl in purls:
        match = PURL.match(str(purl))
        if match is None:
            problems.append(f"{where}: {purl!r} is not a package URL (pkg:TYPE/[NAMESPACE/]NAME[@VERSION])")
        elif match["type"] == "pypi" and pinned is not None and canonical_name(match["name"]) not in pinned:
            problems.append(f"{where}: {purl} names a package no image's lock pins any more; drop the entry")
    return problems


def ignore_problems(text: str, today: dt.date, pinned: set[str] | None = None) -> list[str]:
    """Every way the ignore list breaks the rules of its header, one sentence each. With `pinned`
    (images_pinned), a PyPI package an entry names must still be in an image."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"{IGNORE_FILE}: not YAML ({exc})"]
    if not isinstance(document, dict) or not isinstance(document.get("vulnerabilities"), list):
        return [f"{IGNORE_FILE}: wants a `vulnerabilities` list"]
    problems = []
    for index, entry in enumerate(document["vulnerabilities"]):
        where = f"{IGNORE_FILE} vulnerabilities[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not a mapping")
            continue
        identifier = str(entry.get("id", ""))
        if not VULNERABILITY_ID.match(identifier):
            problems.append(f"{where}: id {identifier!r} is not a CVE or GHSA id")
        problems.extend(purl_problems(f"{where} ({identifier})", entry.get("purls"), pinned))
        if not str(entry.get("statement", "")).strip():
            problems.append(f"{where} ({identifier}): no statement saying why it may ship")
        expires: Any = entry.get("expired_at")
        if isinstance(expires, dt.datetime):
            expires = expires.date()
        if not isinstance(expires, dt.date):
            problems.append(f"{where} ({identifier}): expired_at is not a date (YYYY-MM-DD)")
        elif expires <= today:
            problems.append(f"{where} ({identifier}): expired on {expires}; fix it or review and re-date it")
        elif (expires - today).days > MAX_IGNORE_DAYS:
            problems.append(f"{where} ({identifier}): expires {expires}, more than {MAX_IGNORE_DAYS} days ahead")
    return problems


def images_from_report(report: Path) -> list[str]:
    try:
        built = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScanError(f"{report}: not the images report of `shopfloor images build --report` ({exc})") from None
    if not isinstance(built, list) or not all(isinstance(b, dict) and "image" in b for b in built):
        raise ScanError(f"{report}: not the images report of `shopfloor images build --report`")
    return [str(b["image"]) for b in built]


def scan_images(
    repo: Path,
    images: list[str],
    *,
    require: bool,
    say: Callable[[str], None] = print,
    which: Callable[[str], str | None] = shutil.which,
) -> int:
    """0 when every image passes (or no scanner and not `require`), 1 otherwise."""
    problems = ignore_problems((repo / IGNORE_FILE).read_text(encoding="utf-8"), dt.date.today(), images_pinned(repo))
    if problems:
        for problem in problems:
            say(problem)
        return 1
    trivy = which("trivy")
    if trivy is None:
        say(f"image scan: not run, Trivy is not on the PATH: {INSTALL_HINT}")
        return 1 if require else 0
    failed = []
    for image in images:
        say(f"image scan: {image} (fail on fixable {SEVERITY})")
        # An argument list, no shell; the image names come from our own build report.
        if subprocess.run(scan_command(trivy, image, repo), check=False).returncode != 0:  # noqa: S603
            failed.append(image)
    if failed:
        say("image scan failed: " + ", ".join(failed) + f" (fix, or add a dated exception to {IGNORE_FILE})")
        return 1
    return 0
