"""Grafana's dashboard schema, as a JSON Schema derived from Grafana's own TypeScript types.

npm's `@grafana/schema` ships the `Dashboard` type of Grafana's classic dashboard JSON model
(raw/dashboard/x/types.gen.d.ts, generated from Grafana's CUE kinds); `ts-json-schema-generator`
turns it into a JSON Schema in which every object refuses unknown fields. The versions are pinned
in observability/grafana-schema/package.json and its lock (integrity hashes, no download
addresses: .npmrc there says `omit-lockfile-registry-resolved`).

The derived schema is committed next to them (dashboard.schema.json), so generating and validating
the dashboards needs no Node; `shopfloor slo dashboard-schema --check` (and a test, where npm
exists) derives it again from the locked packages and fails when the committed one differs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError, best_match  # type: ignore[import-untyped]

SCHEMA_DIR = Path("observability") / "grafana-schema"
SCHEMA_FILE = SCHEMA_DIR / "dashboard.schema.json"
# What `npm ci` reads: a change to any of them means a different derivation.
NPM_INPUTS = ("package.json", "package-lock.json", ".npmrc")
TYPES_FILE = (
    Path("node_modules") / "@grafana" / "schema" / "dist" / "types" / "raw" / "dashboard" / "x" / "types.gen.d.ts"
)
GENERATOR = Path("node_modules") / ".bin" / "ts-json-schema-generator"


class DashboardSchemaError(Exception):
    """The schema cannot be derived or read; the message says what to do."""


def load_schema(repo: Path) -> dict[str, Any]:
    path = repo / SCHEMA_FILE
    try:
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DashboardSchemaError(f"{SCHEMA_FILE}: {exc.strerror}; run `shopfloor slo dashboard-schema`") from None
    return schema


def _where(error: ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "(dashboard)"


def _explain(error: ValidationError) -> ValidationError:
    """For a panel that fits neither Panel nor RowPanel, the reason from the branch its `type`
    picks, rather than "not valid under any of the given schemas"."""
    if not error.context:
        return error
    instance = error.instance if isinstance(error.instance, dict) else {}
    wanted = "RowPanel" if instance.get("type") == "row" else "Panel"
    branch = [e for e in error.context if _branch_ref(error, e) == wanted]
    return _explain(best_match(branch or error.context))


def _branch_ref(error: ValidationError, sub: ValidationError) -> str:
    """The definition name (Panel, RowPanel) of the anyOf branch a sub-error came from."""
    index = sub.schema_path[0] if sub.schema_path else None
    branches = error.schema.get("anyOf", []) if isinstance(error.schema, dict) else []
    if isinstance(index, int) and index < len(branches):
        return str(branches[index].get("$ref", "")).rpartition("/")[2]
    return ""


def dashboard_errors(document: Any, schema: dict[str, Any]) -> list[str]:
    """Every way `document` breaks the dashboard schema, as `path: reason`; [] when it is valid."""
    validator = Draft7Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_where(e)}: {_explain(e).message}" for e in errors]


def _inputs_digest(repo: Path) -> str:
    digest = hashlib.sha256()
    for name in NPM_INPUTS:
        digest.update(name.encode() + b"\0" + (repo / SCHEMA_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def derive_schema(repo: Path, cache: Path) -> dict[str, Any]:
    """The schema derived from the locked npm packages, installed under `cache` (one folder per
    version of the lock, so a second run reuses the install and the derivation)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise DashboardSchemaError(
            "deriving the dashboard schema needs Node.js 18+ and npm: apt-get install nodejs npm "
            "(or your platform's Node.js package)"
        )
    work = cache / _inputs_digest(repo)
    derived = work / "dashboard.schema.json"
    if not derived.is_file():
        work.mkdir(parents=True, exist_ok=True)
        for name in NPM_INPUTS:
            shutil.copyfile(repo / SCHEMA_DIR / name, work / name)
        _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], work)
        _run(
            [str(work / GENERATOR), "--path", str(TYPES_FILE), "--type", "Dashboard", "--no-type-check",
             "--out", "dashboard.schema.json.tmp"],
            work,
        )  # fmt: skip
        (work / "dashboard.schema.json.tmp").replace(derived)
    schema: dict[str, Any] = json.loads(derived.read_text(encoding="utf-8"))
    return schema


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise DashboardSchemaError(f"{' '.join(command[:2])} failed in {cwd}:\n{result.stdout}{result.stderr}")


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
