"""`shopfloor bump`: set one service's image tag (and digest) in one environment's image file."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

from shopfloor.delivery.image_files import (
    ImageRef,
    image_path,
    load_image_document,
    validate_digest,
    validate_tag,
    yaml_round_trip,
)


def _same_style(old: object, new: str) -> str:
    # Keep the file's quoting: a tag like 0.1.0 or 1e3 must stay a string in YAML.
    styled: str = type(old)(new) if isinstance(old, ScalarString) else DoubleQuotedScalarString(new)
    return styled


@dataclass(frozen=True)
class Bump:
    path: Path
    old: ImageRef
    new: ImageRef

    @property
    def changed(self) -> bool:
        return self.old != self.new


def bump(repo: Path, environment: str, service: str, tag: str, digest: str | None = None) -> Bump:
    """Set the tag (and digest; a new tag without one clears the old digest, which pinned the old image)."""
    validate_tag(tag)
    if digest:
        validate_digest(digest)
    path = image_path(repo, environment, service)
    document = load_image_document(path)
    image = document["image"]
    old = ImageRef(str(image.get("repository", "")), str(image.get("tag", "")), str(image.get("digest", "") or ""))
    new = ImageRef(old.repository, tag, digest or "")
    if new != old:
        image["tag"] = _same_style(image.get("tag"), tag)
        image["digest"] = _same_style(image.get("digest"), digest or "")
        buffer = io.StringIO()
        yaml_round_trip().dump(document, buffer)
        path.write_text(buffer.getvalue(), encoding="utf-8")
    return Bump(path, old, new)
