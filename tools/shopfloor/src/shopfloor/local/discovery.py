"""Find the repository and the services under apps/ that `shopfloor run` starts.

A service takes part when its apps/<dir>/pyproject.toml has a [tool.shopfloor] table, so a
service added later joins the local stack without editing this tool.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DiscoveryError(Exception):
    """The repository or a service's [tool.shopfloor] table is not usable; the message says why."""


@dataclass(frozen=True)
class ServiceSpec:
    """One service as its pyproject.toml describes it to the local runner."""

    name: str  # the apps/ directory name, which is also the console script name
    port: int
    edge_prefix: str | None = None
    migrate: bool = False
    seed: bool = False
    # Variables that name a folder of local state, as paths under the runner's state dir.
    state_paths: tuple[tuple[str, str], ...] = ()
    # Services that must be serving before this one's `seed` runs (orders seeds through catalog).
    seed_needs: tuple[str, ...] = ()

    @property
    def url_variable(self) -> str:
        """The variable other services read this service's address from: api-gateway -> API_GATEWAY_URL."""
        return self.name.upper().replace("-", "_") + "_URL"


def _parse_table(name: str, pyproject: Path, table: Any) -> ServiceSpec:
    where = f"{pyproject} [tool.shopfloor]"
    if not isinstance(table, dict):
        raise DiscoveryError(f"{where}: must be a table")
    # Other keys (e.g. `settings`, read by the docs tooling) are not the runner's business.
    port = table.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise DiscoveryError(f"{where}: port must be an integer 1..65535, got {port!r}")
    prefix = table.get("edge_prefix")
    if prefix is not None and (not isinstance(prefix, str) or not prefix.startswith("/")):
        raise DiscoveryError(f"{where}: edge_prefix must be a path starting with '/', got {prefix!r}")
    flags = {}
    for key in ("migrate", "seed"):
        value = table.get(key, False)
        if not isinstance(value, bool):
            raise DiscoveryError(f"{where}: {key} must be true or false, got {value!r}")
        flags[key] = value
    state_paths = table.get("state_paths", {})
    if not isinstance(state_paths, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and not Path(v).is_absolute() for k, v in state_paths.items()
    ):
        raise DiscoveryError(f"{where}: state_paths must map variable names to relative paths, got {state_paths!r}")
    seed_needs = table.get("seed_needs", [])
    if not isinstance(seed_needs, list) or not all(isinstance(n, str) and n for n in seed_needs):
        raise DiscoveryError(f"{where}: seed_needs must be a list of service names, got {seed_needs!r}")
    return ServiceSpec(
        name=name,
        port=port,
        edge_prefix=prefix,
        migrate=flags["migrate"],
        seed=flags["seed"],
        state_paths=tuple(sorted(state_paths.items())),
        seed_needs=tuple(seed_needs),
    )


def discover_services(repo: Path) -> list[ServiceSpec]:
    """Every service under repo/apps with a [tool.shopfloor] table, in name order."""
    services = []
    for pyproject in sorted((repo / "apps").glob("*/pyproject.toml")):
        try:
            document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise DiscoveryError(f"{pyproject}: not valid TOML: {exc}") from None
        table = document.get("tool", {}).get("shopfloor")
        if table is None:
            continue
        services.append(_parse_table(pyproject.parent.name, pyproject, table))
    ports: dict[int, str] = {}
    for service in services:
        if service.port in ports:
            raise DiscoveryError(f"services {ports[service.port]} and {service.name} both want port {service.port}")
        ports[service.port] = service.name
    names = {service.name for service in services}
    for service in services:
        unknown = sorted(set(service.seed_needs) - names)
        if unknown:
            raise DiscoveryError(f"{service.name}: seed_needs names unknown service(s): {', '.join(unknown)}")
    prefixes: dict[str, str] = {}
    for service in services:
        if service.edge_prefix is None:
            continue
        if service.edge_prefix in prefixes:
            raise DiscoveryError(
                f"services {prefixes[service.edge_prefix]} and {service.name} both claim edge_prefix "
                f"{service.edge_prefix}"
            )
        prefixes[service.edge_prefix] = service.name
    return services
