"""The shared library's optional parts, each installed by an extra of shopfloor-common.

The base install is what every service uses: the app factory, settings, logs, metrics, health,
errors, the server. The database (`db`), cache (`cache`) and service client (`client`) modules
need more, so a service asks for those it uses in its pyproject.toml
(`shopfloor-common[db,cache]`) and its image installs nothing else: the frontend's has no
database stack. Importing such a module without its extra raises MissingExtra, which names it.
"""

from __future__ import annotations


class MissingExtra(ImportError):
    """An optional module of shopfloor-common was imported without the extra that installs it."""


def missing_extra(module: str, extra: str, error: ModuleNotFoundError) -> MissingExtra:
    """The error to raise from `module` when importing its dependencies failed with `error`."""
    return MissingExtra(
        f"{module} needs shopfloor-common's `{extra}` extra ({error.name} is not installed): depend on "
        f"shopfloor-common[{extra}] in the service's pyproject.toml and run `make lock`",
        name=error.name,
    )
