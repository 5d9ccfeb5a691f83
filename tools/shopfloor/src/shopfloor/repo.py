"""Where the Shopfloor repository is, for the commands that work on it."""

from __future__ import annotations

import os
from pathlib import Path


class RepoNotFound(Exception):
    """The repository cannot be found; the message says how to point at it."""


def find_repo_root(start: Path | None = None) -> Path:
    """The repository root: SHOPFLOOR_REPO, else the nearest folder above `start` (the working
    directory) that has apps/ and tools/shopfloor/, else the checkout this package lives in."""
    explicit = os.environ.get("SHOPFLOOR_REPO")
    if explicit:
        return Path(explicit).resolve()
    candidates = [*(start or Path.cwd()).resolve().parents]
    candidates.insert(0, (start or Path.cwd()).resolve())
    for folder in candidates:
        if (folder / "apps").is_dir() and (folder / "tools" / "shopfloor").is_dir():
            return folder
    # An editable install: <repo>/tools/shopfloor/src/shopfloor/repo.py
    here = Path(__file__).resolve()
    if len(here.parents) > 4 and (here.parents[4] / "apps").is_dir():
        return here.parents[4]
    raise RepoNotFound(
        "cannot find the Shopfloor repository (a folder with apps/ and tools/shopfloor/): "
        "run from inside it or set SHOPFLOOR_REPO"
    )
