"""What the lab shop and its clients share, with the standard library only: a command that only
talks to the shop (status, reset) must not pay for importing the shop itself."""

from __future__ import annotations

from collections.abc import Mapping

HOT_SKU = "LAB-HOT"  # the product the customers (and verify's load) buy
STATE_FILE = "state.json"  # in the shop's folder: where everything is, while it runs
INITIAL_VERSION = "1.0.0"


def read_env_file(text: str) -> dict[str, str]:
    """A deploy file's KEY=VALUE lines; blank lines and # comments skipped."""
    values = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        values[key.strip()] = value.strip()
    return values


def write_env_file(values: Mapping[str, str]) -> str:
    ordered = ["VERSION"] if "VERSION" in values else []
    ordered += sorted(k for k in values if k != "VERSION")
    return "".join(f"{key}={values[key]}\n" for key in ordered)
