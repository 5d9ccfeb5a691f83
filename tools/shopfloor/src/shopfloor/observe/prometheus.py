"""The local Prometheus's configuration, and a small client of Prometheus's HTTP API that the
local stack, `shopfloor slo report` and the tests share (it works against any Prometheus URL).

Every shop target carries the labels of observability/README.md, as static target labels here
(a ServiceMonitor's relabeling in clusters): job = the service, service = <service>-service,
namespace = shopfloor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

NAMESPACE = "shopfloor"
RULES_GLOB = Path("observability") / "rules" / "*.yaml"
LAB_SLO_RULES = Path("observability") / "generated" / "slo-rules.lab.yaml"


@dataclass(frozen=True)
class ScrapeTarget:
    service: str
    address: str  # host:port

    @property
    def labels(self) -> dict[str, str]:
        return {"service": f"{self.service}-service", "namespace": NAMESPACE}


def rule_files(repo: Path) -> list[str]:
    """What the local Prometheus loads: the hand-written rules (a glob, so a file added later joins
    on the next start) and the lab profile of the SLO rules. The same files as in the clusters."""
    return [str(repo / RULES_GLOB), str(repo / LAB_SLO_RULES)]


def prometheus_config(
    targets: Sequence[ScrapeTarget],
    *,
    rules: Sequence[str],
    alertmanager: str,
    interval: str,
) -> dict[str, Any]:
    """prometheus.yml: one scrape job per service, rules evaluated as often as scraped (the lab
    profile's interval), alerts to `alertmanager` (host:port)."""
    return {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": list(rules),
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": target.service,
                "static_configs": [{"targets": [target.address], "labels": target.labels}],
            }
            for target in targets
        ],
    }


class PrometheusError(Exception):
    """Prometheus cannot be reached or refused the query; the message says which and why."""


class PrometheusClient:
    """Prometheus's HTTP API (/api/v1): instant and range queries, rules, targets."""

    def __init__(self, url: str, *, timeout_seconds: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_seconds))

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> PrometheusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = f"{self.url}{path}"
        try:
            async with self._session.get(url, params=params) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                if not isinstance(body, dict) or body.get("status") != "success":
                    detail = body.get("error") if isinstance(body, dict) else (await response.text())[:200]
                    raise PrometheusError(f"{url} answered {response.status}: {detail}")
                return body["data"]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url} ({type(exc).__name__}: {exc})") from None

    async def query(self, expr: str, *, at: float | None = None) -> list[dict[str, Any]]:
        """An instant vector: [{"metric": {...}, "value": [time, "value"]}]."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = await self._get("/api/v1/query", params)
        result: list[dict[str, Any]] = data["result"] if data.get("resultType") == "vector" else []
        return result

    async def query_range(self, expr: str, *, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range matrix: [{"metric": {...}, "values": [[time, "value"], ...]}]."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = await self._get("/api/v1/query_range", params)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def rule_groups(self) -> list[dict[str, Any]]:
        data = await self._get("/api/v1/rules")
        groups: list[dict[str, Any]] = data["groups"]
        return groups

    async def active_targets(self) -> list[dict[str, Any]]:
        data = await self._get("/api/v1/targets", {"state": "active"})
        targets: list[dict[str, Any]] = data["activeTargets"]
        return targets
