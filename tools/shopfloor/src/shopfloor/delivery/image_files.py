"""The image files: what an environment runs. `environments/<env>/<service>/image.yaml` for a
service (beside its values; every folder there is an Argo CD Application) and
`environments/<env>/tools-image.yaml` for the tools image, which the PostSync smoke Job runs in
each Application (a file, not a folder: it is no Application of its own).

An environment runs what its image file says on the branch Argo CD follows (GitOps: git is the
deployed state). CI's release job bumps `dev` (bump.py); a promotion copies the files to the next
environment, dev -> staging -> prod (promote.py); a rollback reverts that commit
(runbooks/rollback.md). Those two commands are the only writers of these files.

Edits are round-trips through ruamel.yaml, so comments, key order and quoting survive, and an edit
that changes nothing writes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from shopfloor.delivery import TOOLS_IMAGE

IMAGE_FILE = "image.yaml"
# Docker's own grammar for a tag (distribution/reference): 1-128 characters, no leading . or -.
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class DeliveryError(Exception):
    """Refused or failed; the message says why and is printed as is (exit 2)."""


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str
    digest: str

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}" + (f"@{self.digest}" if self.digest else "")

    @property
    def short(self) -> str:
        return self.tag + (f"@{self.digest[:19]}" if self.digest else "")


def yaml_round_trip() -> YAML:
    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def image_path(repo: Path, environment: str, image: str) -> Path:
    if image == TOOLS_IMAGE:
        return repo / "environments" / environment / f"{TOOLS_IMAGE}-{IMAGE_FILE}"
    return repo / "environments" / environment / image / IMAGE_FILE


def images_with_files(repo: Path, environment: str) -> list[str]:
    """The images `environment` has an image file for: its services, and the tools image."""
    folder = repo / "environments" / environment
    images = sorted(path.parent.name for path in folder.glob(f"*/{IMAGE_FILE}"))
    return [*images, TOOLS_IMAGE] if image_path(repo, environment, TOOLS_IMAGE).is_file() else images


def load_image_document(path: Path) -> Any:
    if not path.is_file():
        raise DeliveryError(f"{path}: no image file (is the service deployed in that environment?)")
    document = yaml_round_trip().load(path.read_text(encoding="utf-8"))
    image = document.get("image") if hasattr(document, "get") else None
    if not hasattr(image, "get"):
        raise DeliveryError(f"{path}: expected a mapping `image: {{repository, tag, digest}}`")
    return document


def read_image(path: Path) -> ImageRef:
    image = load_image_document(path)["image"]
    return ImageRef(str(image.get("repository", "")), str(image.get("tag", "")), str(image.get("digest", "") or ""))


def validate_tag(tag: str) -> None:
    if not TAG.fullmatch(tag):
        raise DeliveryError(f"malformed tag {tag!r}: a tag is 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'")


def validate_digest(digest: str) -> None:
    if not DIGEST.fullmatch(digest):
        raise DeliveryError(f"malformed digest {digest!r}: expected sha256: and 64 lowercase hex digits")
